/* pm-log.h — children's output into log files, as whole lines, batched.
 *
 * The two halves, each in its own file: the writer of a file
 * (pm-log-writer.h: batches, I/O threads, errors, backpressure, reopening)
 * and the reader of a process (pm-log-reader.h: pipes, prefixes). The rest
 * of the daemon includes this header for both.
 */
#pragma once

#include "pm-log-writer.h"
#include "pm-log-reader.h"
