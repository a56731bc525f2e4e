/* pm-cli-reopen-logs.c — `elife-pm reopen-logs`: what logrotate's
 * postrotate runs (as SIGHUP to the daemon would). */
#include "config.h"

#include <glib/gi18n.h>

#include "pm-cli.h"

int
pm_cli_reopen_logs (PmCli              *cli,
                    const PmCliCommand *command,
                    int                 argc,
                    char              **argv)
{
  g_autoptr(GOptionContext) context = pm_cli_context_new (cli, command, NULL);
  g_autoptr(GError) error = NULL;

  if (!pm_cli_parse (context, &argc, &argv))
    return PM_CLI_EXIT_USAGE;
  if (argc > 1)
    return pm_cli_usage_error (context, _("reopen-logs takes no arguments"));
  if (!pm_cli_connect (cli, &error) ||
      !pm_dbus_process_manager_call_reopen_logs_sync (cli->manager, NULL, &error))
    return pm_cli_fail (error);
  return PM_CLI_EXIT_OK;
}
