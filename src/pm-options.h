/* pm-options.h — the a{sv} of Start, validated into a PmOptions.
 *
 * Pure: checks types, required keys and documented limits, but touches no
 * file; whether paths exist is for the spawner to find out.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Documented caps: past them Start answers InvalidArgs instead of growing. */
#define PM_MAX_ARGS         10000
#define PM_MAX_ENV          10000
#define PM_MAX_ARGV_BYTES   (1024 * 1024)   /* args + env, as exec counts them */
#define PM_MAX_ARG_STRLEN   (128 * 1024)    /* one arg or "KEY=VALUE": the kernel's MAX_ARG_STRLEN */
#define PM_MAX_PATH         4096
#define PM_MAX_NAME         256
#define PM_MAX_RESTART_AT   1000
#define PM_MAX_STOP_TIMEOUT 3600000         /* ms: one hour per stop phase */

#define PM_DEFAULT_STOP_TIMEOUT 200
#define PM_DEFAULT_RESTART_OK   1800000

typedef enum
{
  PM_RESTART_ALWAYS,
  PM_RESTART_ON_FAILURE,
  PM_RESTART_NEVER,
} PmRestartPolicy;

typedef enum
{
  PM_PROGRAM_EXEC,    /* executed directly */
  PM_PROGRAM_NODE,    /* .js .mjs .cjs: node, with an IPC channel */
  PM_PROGRAM_PYTHON,  /* .py: python3, unbuffered */
} PmProgramKind;

typedef struct
{
  char            *script;        /* as given; never empty; NULL only when cwd
                                   * is set (cwd is then a module folder) */
  char            *name;          /* never NULL */
  GStrv            args;          /* never NULL */
  char            *cwd;           /* absolute, or NULL for the daemon's */
  char            *log;           /* NULL when none */
  GStrv            env;           /* "KEY=VALUE"; never NULL */
  gboolean         clear_env;
  PmRestartPolicy  restart;
  GArray          *restart_at;    /* of guint32 ms; never NULL */
  guint32          restart_ok;
  gboolean         strip_ansi;
  gboolean         timestamps;
  guint32          stop_timeout;
  char            *interpreter;   /* NULL: by extension */
  gboolean         stop_with_caller;
  gboolean         replace;
} PmOptions;

PmOptions    *pm_options_parse        (GVariant        *asv,
                                       GError         **error);
PmOptions    *pm_options_copy         (const PmOptions *self);
void          pm_options_free         (PmOptions       *self);
PmProgramKind pm_program_kind_for     (const char      *script);
const char   *pm_restart_policy_to_string (PmRestartPolicy policy);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PmOptions, pm_options_free)

G_END_DECLS
