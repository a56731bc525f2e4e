/* pm-cli-version.c — `elife-pm version`: this tool's version, then the
 * daemon's Version property. */
#include "config.h"

#include <glib/gi18n.h>

#include "pm-cli.h"

int
pm_cli_version (PmCli              *cli,
                const PmCliCommand *command,
                int                 argc,
                char              **argv)
{
  g_autoptr(GOptionContext) context = pm_cli_context_new (cli, command, NULL);
  g_autoptr(GError) error = NULL;
  const char *version;

  if (!pm_cli_parse (context, &argc, &argv))
    return PM_CLI_EXIT_USAGE;
  if (argc > 1)
    return pm_cli_usage_error (context, _("version takes no arguments"));
  g_print (_("elife-pm %s\n"), PACKAGE_VERSION);
  if (!pm_cli_connect (cli, &error))
    return pm_cli_fail (error);
  version = pm_dbus_process_manager_get_version (cli->manager);
  if (version == NULL)
    {
      g_printerr (_("elife-pm: elife-pmd on %s did not say its version\n"), cli->bus_label);
      return PM_CLI_EXIT_FAILURE;
    }
  g_print (_("elife-pmd %s\n"), version);
  return PM_CLI_EXIT_OK;
}
