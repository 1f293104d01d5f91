# Third-party libraries come from the distribution (ci/setup installs them); nothing is vendored.
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv>=1.44)
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl>=7.80)
pkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson>=1.7.14)
pkg_check_modules(SQLITE REQUIRED IMPORTED_TARGET sqlite3>=3.37)
pkg_check_modules(YAML REQUIRED IMPORTED_TARGET yaml-0.1)
pkg_check_modules(ZLIB REQUIRED IMPORTED_TARGET zlib)
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)

# libhttp-parser ships no pkg-config file.
find_path(HTTP_PARSER_INCLUDE_DIR http_parser.h REQUIRED)
find_library(HTTP_PARSER_LIBRARY http_parser REQUIRED)
add_library(http_parser_ext INTERFACE)
target_include_directories(http_parser_ext INTERFACE ${HTTP_PARSER_INCLUDE_DIR})
target_link_libraries(http_parser_ext INTERFACE ${HTTP_PARSER_LIBRARY})
