/* pm-cli-restart.c — `elife-pm restart NAME|ID…`: stop, then start again
 * with the same options and ids. */
#include "config.h"

#include "pm-cli.h"

int
pm_cli_restart (PmCli              *cli,
                const PmCliCommand *command,
                int                 argc,
                char              **argv)
{
  return pm_cli_act_on_targets (cli, command, argc, argv, TRUE);
}
