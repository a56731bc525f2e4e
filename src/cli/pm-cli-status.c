/* pm-cli-status.c — `elife-pm status NAME|ID [--json]`: everything known
 * about each matching process: its properties, its figures from Stats, how
 * it last exited and when it restarts next.
 *
 * Properties this tool does not know yet (a newer daemon) are shown too,
 * under their D-Bus names, so nothing the daemon says is hidden.
 */
#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "pm-cli.h"
#include "pm-cli-format.h"

static const char *const shown[] = {
  "Id", "Name", "Pid", "State", "Restarts", "Script", "Args", "Cwd", "Log",
  "ExitCode", "ExitSignal", "NextRestart", "LostLines", "StartedAt", NULL
};

static char *
format_time (guint64 usec)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local ((gint64) (usec / G_USEC_PER_SEC));

  return dt ? g_date_time_format (dt, "%Y-%m-%d %H:%M:%S") : g_strdup ("?");
}

static void
row (const char *label,
     const char *value)
{
  g_print ("  %-14s %s\n", label, value);
}

static void
print_process (PmDBusProcessManagerProcess *p,
               GHashTable                  *stats)
{
  guint id = pm_dbus_process_manager_process_get_id (p);
  const char *name = pm_dbus_process_manager_process_get_name (p);
  guint pid = pm_dbus_process_manager_process_get_pid (p);
  const char *state = pm_dbus_process_manager_process_get_state (p);
  guint64 started = pm_dbus_process_manager_process_get_started_at (p);
  guint64 next = pm_dbus_process_manager_process_get_next_restart (p);
  guint64 now = (guint64) g_get_real_time ();
  guint64 *s = g_hash_table_lookup (stats, GUINT_TO_POINTER (id));
  gint code = pm_dbus_process_manager_process_get_exit_code (p);
  gint sig = pm_dbus_process_manager_process_get_exit_signal (p);
  const char *const *args = pm_dbus_process_manager_process_get_args (p);
  const char *log = pm_dbus_process_manager_process_get_log (p);
  g_autofree char *v = NULL;
  g_auto(GStrv) names = g_dbus_proxy_get_cached_property_names (G_DBUS_PROXY (p));

  g_print ("%u %s\n", id, name && *name ? name : _("(unnamed)"));
  row (_("State:"), state);
  v = pid ? g_strdup_printf ("%u", pid) : g_strdup (_("none"));
  row (_("Pid:"), v);
  g_clear_pointer (&v, g_free);
  if (started != 0)
    {
      g_autofree char *when = format_time (started);
      g_autofree char *ago = pm_cli_format_duration (now > started ? now - started : 0);

      v = g_strdup_printf (_("%s (%s ago)"), when, ago);
    }
  else
    v = g_strdup (_("never"));
  row (_("Started:"), v);
  g_clear_pointer (&v, g_free);
  if (s != NULL)
    {
      g_autofree char *share = pm_cli_format_cpu (s[1], now > started ? now - started : 0);
      g_autofree char *used = pm_cli_format_duration (s[1]);
      g_autofree char *mem = pm_cli_format_bytes (s[2]);

      g_autofree char *usec = g_strdup_printf ("%" G_GUINT64_FORMAT, s[1]);
      g_autofree char *bytes = g_strdup_printf ("%" G_GUINT64_FORMAT, s[2]);

      v = g_strdup_printf (_("%s of one core (%s, %s µs)"), share, used, usec);
      row (_("CPU:"), v);
      g_clear_pointer (&v, g_free);
      v = g_strdup_printf (_("%s (%s bytes resident)"), mem, bytes);
      row (_("Memory:"), v);
      g_clear_pointer (&v, g_free);
    }
  v = g_strdup_printf ("%u", pm_dbus_process_manager_process_get_restarts (p));
  row (_("Restarts:"), v);
  g_clear_pointer (&v, g_free);
  row (_("Script:"), pm_dbus_process_manager_process_get_script (p));
  v = args && *args ? g_strjoinv (" ", (char **) args) : g_strdup (_("none"));
  row (_("Args:"), v);
  g_clear_pointer (&v, g_free);
  row (_("Cwd:"), pm_dbus_process_manager_process_get_cwd (p));
  row (_("Log:"), log && *log ? log : _("the daemon’s output"));

  if (started == 0 || (pid != 0 && code == 0 && sig == 0))
    v = g_strdup (_("none"));
  else if (sig != 0)
    v = g_strdup_printf (_("killed by signal %d (%s)"), sig, g_strsignal (sig));
  else
    v = g_strdup_printf (_("exit code %d"), code);
  row (_("Last exit:"), v);
  g_clear_pointer (&v, g_free);

  if (next != 0)
    {
      g_autofree char *when = format_time (next);
      g_autofree char *in = pm_cli_format_duration (next > now ? next - now : 0);

      v = g_strdup_printf (_("%s (in %s)"), when, in);
    }
  else
    v = g_strdup (_("none"));
  row (_("Next restart:"), v);
  g_clear_pointer (&v, g_free);
  v = g_strdup_printf ("%" G_GUINT64_FORMAT, pm_dbus_process_manager_process_get_lost_lines (p));
  row (_("Lost lines:"), v);
  g_clear_pointer (&v, g_free);

  for (char **n = names; n && *n; n++)
    if (!g_strv_contains (shown, *n))
      {
        g_autoptr(GVariant) value = g_dbus_proxy_get_cached_property (G_DBUS_PROXY (p), *n);
        g_autofree char *label = g_strconcat (*n, ":", NULL);

        v = g_variant_print (value, FALSE);
        row (label, v);
        g_clear_pointer (&v, g_free);
      }
}

int
pm_cli_status (PmCli              *cli,
               const PmCliCommand *command,
               int                 argc,
               char              **argv)
{
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      N_("Print a JSON array of the matching processes, as list --json does"), NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) context = pm_cli_context_new (cli, command, entries);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) procs = NULL;
  g_autoptr(GHashTable) stats = NULL;

  if (!pm_cli_parse (context, &argc, &argv))
    return PM_CLI_EXIT_USAGE;
  if (argc != 2)
    return pm_cli_usage_error (context, _("status takes one NAME or ID"));
  if (!pm_cli_connect (cli, &error) ||
      (procs = pm_cli_find (cli, argv[1], &error)) == NULL ||
      (stats = pm_cli_stats (cli, &error)) == NULL)
    return pm_cli_fail (error);

  if (json)
    {
      g_autoptr(GString) out = g_string_new ("[");

      for (guint i = 0; i < procs->len; i++)
        {
          if (i > 0)
            g_string_append_c (out, ',');
          g_string_append (out, "\n  ");
          pm_cli_append_process_json (out, g_ptr_array_index (procs, i), stats);
        }
      g_string_append (out, "\n]\n");
      g_print ("%s", out->str);
      return PM_CLI_EXIT_OK;
    }
  for (guint i = 0; i < procs->len; i++)
    {
      if (i > 0)
        g_print ("\n");
      print_process (g_ptr_array_index (procs, i), stats);
    }
  return PM_CLI_EXIT_OK;
}
