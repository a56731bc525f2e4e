/* pm-cli-start.c — `elife-pm start`: one flag per Start option.
 *
 * Paths on the command line are the shell's: a relative SCRIPT, --cwd,
 * --log or --interpreter (one with a '/') is taken from the current
 * directory, which is also the default cwd. Only the options given are
 * sent, so the daemon's defaults apply to the rest.
 */
#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "pm-cli.h"
#include "pm-cli-format.h"
#include "pm-names.h"

typedef struct
{
  char     *name;
  char     *cwd;
  char     *log;
  char    **env;
  gboolean  clear_env;
  char     *restart;
  char     *restart_at;
  char     *restart_ok;
  gboolean  strip_ansi;
  gboolean  timestamps;
  char     *stop_timeout;
  char     *interpreter;
  gboolean  replace;
  gboolean  stop_with_caller;
  char     *ready;
  char     *ready_pattern;
  char     *start_timeout;
  char     *watchdog_timeout;
  char     *log_max_bytes;
  char     *log_backups;
} StartFlags;

static void
start_flags_clear (StartFlags *f)
{
  g_free (f->name);
  g_free (f->cwd);
  g_free (f->log);
  g_strfreev (f->env);
  g_free (f->restart);
  g_free (f->restart_at);
  g_free (f->restart_ok);
  g_free (f->stop_timeout);
  g_free (f->interpreter);
  g_free (f->ready);
  g_free (f->ready_pattern);
  g_free (f->start_timeout);
  g_free (f->watchdog_timeout);
  g_free (f->log_max_bytes);
  g_free (f->log_backups);
}

static char *
from_here (const char *path)
{
  g_autofree char *here = g_get_current_dir ();

  return g_canonicalize_filename (path, here);
}

static gboolean
add_uint (GVariantBuilder *b,
          const char      *key,
          const char      *flag,
          const char      *text,
          gboolean         wide,
          GError         **error)
{
  guint64 v;

  if (text == NULL)
    return TRUE;
  if (!pm_cli_parse_uint (text, wide ? G_MAXUINT64 : G_MAXUINT32, flag, &v, error))
    return FALSE;
  g_variant_builder_add (b, "{sv}", key,
                         wide ? g_variant_new_uint64 (v) : g_variant_new_uint32 ((guint32) v));
  return TRUE;
}

static void
add_string (GVariantBuilder *b,
            const char      *key,
            const char      *value)
{
  if (value != NULL)
    g_variant_builder_add (b, "{sv}", key, g_variant_new_string (value));
}

static void
add_true (GVariantBuilder *b,
          const char      *key,
          gboolean         value)
{
  if (value)
    g_variant_builder_add (b, "{sv}", key, g_variant_new_boolean (TRUE));
}

static GVariant *
build_options (StartFlags *f,
               const char *script,
               char      **args,
               GError    **error)
{
  g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autofree char *abs_script = from_here (script);
  g_autofree char *cwd = f->cwd ? from_here (f->cwd) : g_get_current_dir ();

  g_variant_builder_add (&b, "{sv}", "script", g_variant_new_string (abs_script));
  g_variant_builder_add (&b, "{sv}", "cwd", g_variant_new_string (cwd));
  if (args != NULL && *args != NULL)
    g_variant_builder_add (&b, "{sv}", "args", g_variant_new_strv ((const char * const *) args, -1));
  add_string (&b, "name", f->name);
  if (f->log != NULL)
    {
      g_autofree char *log = *f->log ? from_here (f->log) : g_strdup ("");
      add_string (&b, "log", log);
    }
  if (f->env != NULL)
    {
      GVariant *env = pm_cli_parse_env ((const char * const *) f->env, "--env", error);
      if (env == NULL)
        return NULL;
      g_variant_builder_add (&b, "{sv}", "env", env);
    }
  add_true (&b, "clearEnv", f->clear_env);
  add_string (&b, "restart", f->restart);
  if (f->restart_at != NULL)
    {
      g_auto(GStrv) items = g_strsplit (f->restart_at, ",", -1);
      GVariant *at = pm_cli_parse_ms_list ((const char * const *) items, "--restart-at", error);
      if (at == NULL)
        return NULL;
      g_variant_builder_add (&b, "{sv}", "restartAt", at);
    }
  if (!add_uint (&b, "restartOk", "--restart-ok", f->restart_ok, FALSE, error) ||
      !add_uint (&b, "stopTimeout", "--stop-timeout", f->stop_timeout, FALSE, error) ||
      !add_uint (&b, "startTimeout", "--start-timeout", f->start_timeout, FALSE, error) ||
      !add_uint (&b, "watchdogTimeout", "--watchdog-timeout", f->watchdog_timeout, FALSE, error) ||
      !add_uint (&b, "logMaxBytes", "--log-max-bytes", f->log_max_bytes, TRUE, error) ||
      !add_uint (&b, "logBackups", "--log-backups", f->log_backups, FALSE, error))
    return NULL;
  add_true (&b, "stripANSI", f->strip_ansi);
  add_true (&b, "timestamps", f->timestamps);
  if (f->interpreter != NULL)
    {
      g_autofree char *interp = strchr (f->interpreter, '/') ? from_here (f->interpreter)
                                                              : g_strdup (f->interpreter);
      add_string (&b, "interpreter", interp);
    }
  add_true (&b, "replace", f->replace);
  add_true (&b, "stopWithCaller", f->stop_with_caller);
  add_string (&b, "ready", f->ready);
  add_string (&b, "readyPattern", f->ready_pattern);
  return g_variant_builder_end (&b);
}

/* --stop-with-caller: elife-pm is the caller, so it stays until
 * interrupted, or until the process has exited for good or is forgotten. */
typedef struct
{
  GMainLoop *loop;
  char      *path;   /* the process's object */
} Hold;

static void
on_state (PmDBusProcessManagerProcess *process,
          GParamSpec                  *pspec,
          Hold                        *hold)
{
  if (g_strcmp0 (pm_dbus_process_manager_process_get_state (process), "exited") == 0)
    g_main_loop_quit (hold->loop);
}

static void
on_removed (GDBusObjectManager *objects,
            GDBusObject        *object,
            Hold               *hold)
{
  if (g_str_equal (g_dbus_object_get_object_path (object), hold->path))
    g_main_loop_quit (hold->loop);
}

static int
hold_until_done (PmCli  *cli,
                 guint32 id)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *target = g_strdup_printf ("%u", id);
  g_autoptr(GPtrArray) found = pm_cli_find (cli, target, &error);
  PmDBusProcessManagerProcess *process;
  Hold hold;

  if (found == NULL)
    return PM_CLI_EXIT_OK;   /* already gone */
  process = g_ptr_array_index (found, 0);
  cli->loop = g_main_loop_new (NULL, FALSE);
  hold.loop = cli->loop;
  hold.path = g_strdup_printf (PM_DBUS_PROCESS_PATH_FMT, (guint) id);
  g_signal_connect (process, "notify::state", G_CALLBACK (on_state), &hold);
  g_signal_connect (cli->objects, "object-removed", G_CALLBACK (on_removed), &hold);
  if (g_strcmp0 (pm_dbus_process_manager_process_get_state (process), "exited") != 0)
    pm_cli_run_until_interrupted (cli);
  g_signal_handlers_disconnect_by_data (process, &hold);
  g_signal_handlers_disconnect_by_data (cli->objects, &hold);
  g_free (hold.path);
  return PM_CLI_EXIT_OK;
}

int
pm_cli_start (PmCli              *cli,
              const PmCliCommand *command,
              int                 argc,
              char              **argv)
{
  StartFlags f = { 0 };
  const GOptionEntry entries[] = {
    { "name", 0, 0, G_OPTION_ARG_STRING, &f.name,
      N_("Name of the process (several may share one)"), N_("NAME") },
    { "cwd", 0, 0, G_OPTION_ARG_FILENAME, &f.cwd,
      N_("Working directory (default: the current one)"), N_("DIR") },
    { "log", 0, 0, G_OPTION_ARG_FILENAME, &f.log,
      N_("Log file for its output (default: the daemon’s output)"), N_("FILE") },
    { "env", 'e', 0, G_OPTION_ARG_STRING_ARRAY, &f.env,
      N_("Set an environment variable (repeatable)"), N_("KEY=VALUE") },
    { "clear-env", 0, 0, G_OPTION_ARG_NONE, &f.clear_env,
      N_("Start from an empty environment instead of the daemon’s"), NULL },
    { "restart", 0, 0, G_OPTION_ARG_STRING, &f.restart,
      N_("When to restart after an exit: always (default), on-failure or never"), N_("POLICY") },
    { "restart-at", 0, 0, G_OPTION_ARG_STRING, &f.restart_at,
      N_("Delays before the 1st, 2nd, … restart; the last repeats"), N_("MS,MS,…") },
    { "restart-ok", 0, 0, G_OPTION_ARG_STRING, &f.restart_ok,
      N_("A run this long starts the restart delays over (default 1800000)"), N_("MS") },
    { "strip-ansi", 0, 0, G_OPTION_ARG_NONE, &f.strip_ansi,
      N_("Remove terminal escape sequences from logged lines"), NULL },
    { "timestamps", 0, 0, G_OPTION_ARG_NONE, &f.timestamps,
      N_("Start each logged line with the local time"), NULL },
    { "stop-timeout", 0, 0, G_OPTION_ARG_STRING, &f.stop_timeout,
      N_("How long each stop phase waits (default 200)"), N_("MS") },
    { "interpreter", 0, 0, G_OPTION_ARG_FILENAME, &f.interpreter,
      N_("Program that runs SCRIPT (default: by its extension)"), N_("PROG") },
    { "replace", 0, 0, G_OPTION_ARG_NONE, &f.replace,
      N_("First stop and forget every process with the same name"), NULL },
    { "stop-with-caller", 0, 0, G_OPTION_ARG_NONE, &f.stop_with_caller,
      N_("Stay in the foreground; the process is stopped when elife-pm ends"), NULL },
    { "ready", 0, 0, G_OPTION_ARG_STRING, &f.ready,
      N_("When it counts as started: spawn (default), notify (sd_notify READY=1), message (node process.send('ready')) or line (an output line matches --ready-pattern)"), N_("MODE") },
    { "ready-pattern", 0, 0, G_OPTION_ARG_STRING, &f.ready_pattern,
      N_("With --ready line: the GLib regular expression of the line that means ready"), N_("REGEX") },
    { "start-timeout", 0, 0, G_OPTION_ARG_STRING, &f.start_timeout,
      N_("The longest a start may take to become ready (default 30000)"), N_("MS") },
    { "watchdog-timeout", 0, 0, G_OPTION_ARG_STRING, &f.watchdog_timeout,
      N_("With --ready notify or message: a child that sends no watchdog ping for this long is restarted (default 0: off)"), N_("MS") },
    { "log-max-bytes", 0, 0, G_OPTION_ARG_STRING, &f.log_max_bytes,
      N_("Rotate the log file before it grows past this size (default 0: never)"), N_("BYTES") },
    { "log-backups", 0, 0, G_OPTION_ARG_STRING, &f.log_backups,
      N_("How many rotated log files (FILE.1 … FILE.N) to keep (default 5)"), N_("N") },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) context = pm_cli_context_new (cli, command, entries);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) opts = NULL;
  char **args;
  guint id = 0;
  int status = PM_CLI_EXIT_OK;

  g_option_context_set_description (context,
      _("Options after SCRIPT are the script’s arguments. Relative paths are\n"
        "taken from the current directory. Prints the new process’s id."));
  /* Everything after SCRIPT belongs to the script. */
  g_option_context_set_strict_posix (context, TRUE);
  if (!pm_cli_parse (context, &argc, &argv))
    {
      start_flags_clear (&f);
      return PM_CLI_EXIT_USAGE;
    }
  args = argv + 1;
  if (*args != NULL && g_str_equal (*args, "--"))
    args++;
  if (*args == NULL)
    {
      start_flags_clear (&f);
      return pm_cli_usage_error (context, _("No SCRIPT given"));
    }
  {
    const char *script = *args++;

    if (*args != NULL && g_str_equal (*args, "--"))
      args++;
    opts = build_options (&f, script, args, &error);
    if (opts != NULL)
      g_variant_ref_sink (opts);
  }
  if (opts == NULL)
    status = pm_cli_usage_error (context, error->message);
  else if (!pm_cli_connect (cli, &error) ||
           !pm_dbus_process_manager_call_start_sync (cli->manager, opts,
                                                     &id, NULL, &error))
    status = pm_cli_fail (error);
  else
    {
      g_print ("%u\n", id);
      if (f.stop_with_caller)
        status = hold_until_done (cli, id);
    }
  start_flags_clear (&f);
  return status;
}
