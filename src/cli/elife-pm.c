/* elife-pm.c — the `elife-pm` command: the table of commands, the bus
 * options, and the dispatch to one pm-cli-<command>.c per command.
 *
 * `elife-pm [BUS OPTIONS] COMMAND [OPTIONS] [ARGS…]`; --help for the tool
 * lists the table, `elife-pm COMMAND --help` shows one command.
 */
#include "config.h"

#include <locale.h>
#include <string.h>

#include <glib/gi18n.h>

#include "pm-cli.h"

static int help_command (PmCli *cli, const PmCliCommand *command, int argc, char **argv);

static const PmCliCommand commands[] = {
  { "start", N_("[OPTIONS] SCRIPT [--] [ARGS…]"),
    N_("Start SCRIPT under elife-pmd and print its id"), pm_cli_start },
  { "stop", N_("NAME|ID…"),
    N_("Stop and forget processes (all digits: an id); print how many"), pm_cli_stop },
  { "restart", N_("NAME|ID…"),
    N_("Stop processes and start them again; print how many"), pm_cli_restart },
  { "stop-all", "",
    N_("Stop and forget every process; print how many"), pm_cli_stop_all },
  { "list", N_("[--json]"),
    N_("Show every process with its state, uptime, CPU and memory"), pm_cli_list },
  { "status", N_("NAME|ID [--json]"),
    N_("Show everything known about processes: properties, figures, last exit, next restart"),
    pm_cli_status },
  { "logs", N_("NAME|ID [-n N] [-f]"),
    N_("Show the last lines of a process’s log file; -f follows it"), pm_cli_logs },
  { "monitor", "",
    N_("Print one line per start, stop, exit and state change until interrupted"),
    pm_cli_monitor },
  { "apply", N_("FILE"),
    N_("Start every [NAME] group of a key file, replacing processes of the same name"),
    pm_cli_apply },
  { "reopen-logs", "",
    N_("Reopen every log file at its path (after it was rotated)"), pm_cli_reopen_logs },
  { "version", "",
    N_("Print the version of elife-pm and of the daemon"), pm_cli_version },
  { "help", N_("[COMMAND]"),
    N_("Show the help of elife-pm or of one command"), help_command },
};

static const PmCliCommand *
find_command (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_str_equal (commands[i].name, name))
      return &commands[i];
  return NULL;
}

/* The command list under the usage of `elife-pm --help`, from the table. */
static char *
commands_description (void)
{
  GString *out = g_string_new (_("Commands:"));

  g_string_append_c (out, '\n');
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_autofree char *usage = g_strdup_printf ("%s %s", commands[i].name,
                                                *commands[i].arguments ? _(commands[i].arguments) : "");
      g_string_append_printf (out, "  %s\n      %s\n", g_strchomp (usage), _(commands[i].description));
    }
  g_string_append_c (out, '\n');
  g_string_append (out, _("Run “elife-pm COMMAND --help” for the options of a command.\n"
                          "The bus is the session bus unless --system, --address or\n"
                          "$ELIFE_PM_ADDRESS says otherwise.\n"
                          "Exit status: 0 success, 1 failure (one line on stderr), 2 usage error."));
  return g_string_free (out, FALSE);
}

static GOptionContext *
tool_context (PmCli *cli)
{
  GOptionContext *context = g_option_context_new (_("COMMAND [OPTIONS] [ARGS…]"));
  g_autofree char *description = commands_description ();

  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_set_summary (context, _("Drive elife-pmd, the process manager on D-Bus."));
  g_option_context_set_description (context, description);
  /* Options after the command are the command's. */
  g_option_context_set_strict_posix (context, TRUE);
  g_option_context_add_main_entries (context, pm_cli_bus_entries (cli), GETTEXT_PACKAGE);
  return context;
}

static int
help_command (PmCli              *cli,
              const PmCliCommand *command,
              int                 argc,
              char              **argv)
{
  g_autoptr(GOptionContext) context = pm_cli_context_new (cli, command, NULL);
  g_autoptr(GOptionContext) tool = NULL;
  g_autofree char *help = NULL;
  const PmCliCommand *other;

  if (!pm_cli_parse (context, &argc, &argv))
    return PM_CLI_EXIT_USAGE;
  if (argc > 2)
    return pm_cli_usage_error (context, _("help takes at most one command"));
  if (argc < 2)
    {
      tool = tool_context (cli);
      help = g_option_context_get_help (tool, FALSE, NULL);
      g_print ("%s", help);
      return PM_CLI_EXIT_OK;
    }
  other = find_command (argv[1]);
  if (other == NULL)
    {
      g_autofree char *message = g_strdup_printf (_("Unknown command “%s”"), argv[1]);

      tool = tool_context (cli);
      return pm_cli_usage_error (tool, message);
    }
  {
    /* The command's own help: run it with --help. */
    char *help_argv[] = { (char *) other->name, (char *) "--help", NULL };
    return other->func (cli, other, 2, help_argv);
  }
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  PmCli cli = { 0 };
  const PmCliCommand *command;
  int status;

  setlocale (LC_ALL, "");
  /* ELIFE_PM_LOCALEDIR: the translations of a build tree (tests). */
  bindtextdomain (GETTEXT_PACKAGE, g_getenv ("ELIFE_PM_LOCALEDIR") ? g_getenv ("ELIFE_PM_LOCALEDIR")
                                                                    : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  g_set_prgname ("elife-pm");

  context = tool_context (&cli);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return pm_cli_usage_error (context, error->message);
  if (argc < 2)
    return pm_cli_usage_error (context, _("No command given"));

  command = find_command (argv[1]);
  if (command == NULL)
    {
      g_autofree char *message = g_strdup_printf (_("Unknown command “%s”"), argv[1]);
      return pm_cli_usage_error (context, message);
    }

  status = command->func (&cli, command, argc - 1, argv + 1);
  pm_cli_clear (&cli);
  return status;
}
