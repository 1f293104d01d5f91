# Compiler flags shared by every target.
add_compile_definitions(_GNU_SOURCE)
add_compile_options(-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2
                    -Wmissing-prototypes -Wpointer-arith -Wno-unused-parameter
                    -fno-strict-aliasing)
if(MCP_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined -fno-sanitize-recover=all)
endif()
if(MCP_FUZZ)
  # Coverage instrumentation for every library; the fuzz executables add -fsanitize=fuzzer.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
