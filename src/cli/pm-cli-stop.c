/* pm-cli-stop.c — `elife-pm stop NAME|ID…`: the stop protocol, then the
 * processes are forgotten. */
#include "config.h"

#include "pm-cli.h"

int
pm_cli_stop (PmCli              *cli,
             const PmCliCommand *command,
             int                 argc,
             char              **argv)
{
  return pm_cli_act_on_targets (cli, command, argc, argv, FALSE);
}
