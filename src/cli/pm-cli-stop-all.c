/* pm-cli-stop-all.c — `elife-pm stop-all`: every process, in parallel. */
#include "config.h"

#include <glib/gi18n.h>

#include "pm-cli.h"

int
pm_cli_stop_all (PmCli              *cli,
                 const PmCliCommand *command,
                 int                 argc,
                 char              **argv)
{
  g_autoptr(GOptionContext) context = pm_cli_context_new (cli, command, NULL);
  g_autoptr(GError) error = NULL;
  guint count = 0;

  if (!pm_cli_parse (context, &argc, &argv))
    return PM_CLI_EXIT_USAGE;
  if (argc > 1)
    return pm_cli_usage_error (context, _("stop-all takes no arguments"));
  if (!pm_cli_connect (cli, &error) ||
      !pm_dbus_process_manager_call_stop_all_sync (cli->manager, &count, NULL, &error))
    return pm_cli_fail (error);
  g_print (g_dngettext (GETTEXT_PACKAGE, "Stopped %u process\n", "Stopped %u processes\n", count),
           count);
  return PM_CLI_EXIT_OK;
}
