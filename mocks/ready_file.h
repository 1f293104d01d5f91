/* ready_file: the `--ready-file PATH` of every mock.
 *
 * A harness waits for the file to appear and reads the URL from it, so the file must never be
 * seen half-written: it is written to a temporary name beside PATH and renamed into place. */
#ifndef MOCK_READY_FILE_H
#define MOCK_READY_FILE_H

/* Write `text` and a newline to `path` atomically. 0, MCP_ENOMEM, or a negated errno (the
 * temporary file is removed on failure). */
int mock_write_ready_file(const char *path, const char *text);

#endif
