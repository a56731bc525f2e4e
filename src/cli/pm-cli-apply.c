/* pm-cli-apply.c — `elife-pm apply FILE`: a key file in which each group
 * [NAME] is one process and its keys are Start options.
 *
 * The whole file is checked first (syntax, keys, types, that each script
 * and cwd exist): on any error, one line naming the group and key, and
 * nothing is started. Each group is then started with replace, so applying
 * the file again restarts the same set instead of adding a second one. If
 * the daemon refuses a group, the groups started by this run are stopped
 * again, so a failed apply leaves nothing of its own running.
 */
#include "config.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "pm-cli.h"
#include "pm-cli-format.h"

/* Checks that only the file system can answer, with the same wording. */
static gboolean
check_paths (GVariant *opts,
             GError  **error)
{
  const char *name, *script, *cwd;

  g_variant_lookup (opts, "name", "&s", &name);
  if (g_variant_lookup (opts, "cwd", "&s", &cwd) && !g_file_test (cwd, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   _("[%s] cwd: %s is not a directory"), name, cwd);
      return FALSE;
    }
  if (g_variant_lookup (opts, "script", "&s", &script) &&
      !g_file_test (script, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   _("[%s] script: %s does not exist"), name, script);
      return FALSE;
    }
  return TRUE;
}

int
pm_cli_apply (PmCli              *cli,
              const PmCliCommand *command,
              int                 argc,
              char              **argv)
{
  g_autoptr(GOptionContext) context = pm_cli_context_new (cli, command, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(GPtrArray) all = NULL;
  g_autoptr(GPtrArray) started = g_ptr_array_new ();
  g_autofree char *here = NULL;
  g_autofree char *path = NULL;
  g_autofree char *dir = NULL;

  g_option_context_set_description (context,
      _("Each group [NAME] of FILE is one process named NAME; its keys are the\n"
        "Start options: script=, args=a;b;c, cwd=, log=, env=K=V;K2=V2,\n"
        "clearEnv=true, restart=, restartAt=100;500, restartOk=, stripANSI=,\n"
        "timestamps=, stopTimeout=, interpreter=, ready=, readyPattern=,\n"
        "startTimeout=, watchdogTimeout=, logMaxBytes=, logBackups=.\n"
        "Relative paths are taken from FILE’s directory, which is also the\n"
        "default cwd. Processes of the same name are replaced; others are\n"
        "left alone. Nothing is started when any group is invalid."));
  if (!pm_cli_parse (context, &argc, &argv))
    return PM_CLI_EXIT_USAGE;
  if (argc != 2)
    return pm_cli_usage_error (context, _("apply takes one FILE"));

  here = g_get_current_dir ();
  path = g_canonicalize_filename (argv[1], here);
  dir = g_path_get_dirname (path);
  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &error))
    {
      g_printerr ("elife-pm: %s: %s\n", argv[1], error->message);
      return PM_CLI_EXIT_FAILURE;
    }
  all = pm_cli_keyfile_to_options (kf, dir, &error);
  for (guint i = 0; all != NULL && i < all->len; i++)
    if (!check_paths (g_ptr_array_index (all, i), &error))
      g_clear_pointer (&all, g_ptr_array_unref);
  if (all == NULL)
    {
      g_printerr ("elife-pm: %s: %s\n", argv[1], error->message);
      return PM_CLI_EXIT_FAILURE;
    }

  if (!pm_cli_connect (cli, &error))
    return pm_cli_fail (error);
  for (guint i = 0; i < all->len; i++)
    {
      GVariant *opts = g_ptr_array_index (all, i);
      const char *name;
      guint id;

      g_variant_lookup (opts, "name", "&s", &name);
      if (!pm_dbus_process_manager_call_start_sync (cli->manager, opts, &id, NULL, &error))
        {
          if (g_dbus_error_is_remote_error (error))
            g_dbus_error_strip_remote_error (error);
          g_printerr ("elife-pm: %s: [%s] %s\n", argv[1], name, error->message);
          for (guint k = 0; k < started->len; k++)
            {
              guint count;
              pm_dbus_process_manager_call_stop_sync (cli->manager, g_ptr_array_index (started, k),
                                                      &count, NULL, NULL);
            }
          return PM_CLI_EXIT_FAILURE;
        }
      g_ptr_array_add (started, (gpointer) name);
      g_print ("%s: %u\n", name, id);
    }
  return PM_CLI_EXIT_OK;
}
