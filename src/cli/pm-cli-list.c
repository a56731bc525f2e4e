/* pm-cli-list.c — `elife-pm list [--json]`: every process in a table
 * (ID NAME PID STATE RESTARTS UPTIME CPU MEM) or as a JSON array.
 *
 * Properties come from the object manager, the figures from one Stats call;
 * CPU is the share of one core since the last spawn (StartedAt).
 */
#include "config.h"

#include <glib/gi18n.h>

#include "pm-cli.h"
#include "pm-cli-format.h"

static void
print_table (GPtrArray  *procs,
             GHashTable *stats)
{
  const char *headers[] = {
    /* TRANSLATORS: column headers of `elife-pm list`; keep them short. */
    N_("ID"), N_("NAME"), N_("PID"), N_("STATE"), N_("RESTARTS"),
    N_("UPTIME"), N_("CPU"), N_("MEM"),
  };
  enum { N_COLS = G_N_ELEMENTS (headers) };
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  gsize width[N_COLS];
  guint64 now = (guint64) g_get_real_time ();

  for (guint c = 0; c < N_COLS; c++)
    width[c] = g_utf8_strlen (_(headers[c]), -1);

  for (guint i = 0; i < procs->len; i++)
    {
      PmDBusProcessManagerProcess *p = g_ptr_array_index (procs, i);
      guint id = pm_dbus_process_manager_process_get_id (p);
      guint pid = pm_dbus_process_manager_process_get_pid (p);
      const char *name = pm_dbus_process_manager_process_get_name (p);
      guint64 started = pm_dbus_process_manager_process_get_started_at (p);
      guint64 *s = g_hash_table_lookup (stats, GUINT_TO_POINTER (id));
      guint64 up = (pid != 0 && started != 0 && now > started) ? now - started : 0;
      char **row = g_new0 (char *, N_COLS + 1);

      row[0] = g_strdup_printf ("%u", id);
      row[1] = g_strdup (name && *name ? name : "-");
      row[2] = pid ? g_strdup_printf ("%u", pid) : g_strdup ("-");
      row[3] = g_strdup (pm_dbus_process_manager_process_get_state (p));
      row[4] = g_strdup_printf ("%u", pm_dbus_process_manager_process_get_restarts (p));
      row[5] = pid ? pm_cli_format_duration (up) : g_strdup ("-");
      row[6] = s ? pm_cli_format_cpu (s[1], up) : g_strdup ("-");
      row[7] = s ? pm_cli_format_bytes (s[2]) : g_strdup ("-");
      for (guint c = 0; c < N_COLS; c++)
        width[c] = MAX (width[c], (gsize) g_utf8_strlen (row[c], -1));
      g_ptr_array_add (rows, row);
    }

  for (gint r = -1; r < (gint) rows->len; r++)
    {
      g_autoptr(GString) line = g_string_new (NULL);

      for (guint c = 0; c < N_COLS; c++)
        {
          const char *cell = r < 0 ? _(headers[c]) : ((char **) g_ptr_array_index (rows, r))[c];
          gsize pad = width[c] - g_utf8_strlen (cell, -1);
          /* Numbers right-aligned, words left-aligned, as ps does. */
          gboolean right = c == 0 || c == 2 || c == 4 || c >= 5;

          if (c > 0)
            g_string_append (line, "  ");
          if (right)
            for (gsize k = 0; k < pad; k++)
              g_string_append_c (line, ' ');
          g_string_append (line, cell);
          if (!right && c + 1 < N_COLS)
            for (gsize k = 0; k < pad; k++)
              g_string_append_c (line, ' ');
        }
      g_print ("%s\n", line->str);
    }
}

static void
print_json (GPtrArray  *procs,
            GHashTable *stats)
{
  g_autoptr(GString) out = g_string_new ("[");

  for (guint i = 0; i < procs->len; i++)
    {
      if (i > 0)
        g_string_append_c (out, ',');
      g_string_append (out, "\n  ");
      pm_cli_append_process_json (out, g_ptr_array_index (procs, i), stats);
    }
  g_string_append (out, procs->len ? "\n]\n" : "]\n");
  g_print ("%s", out->str);
}

int
pm_cli_list (PmCli              *cli,
             const PmCliCommand *command,
             int                 argc,
             char              **argv)
{
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      N_("Print a JSON array: every property of each process, plus cpuUsec and rssBytes"), NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) context = pm_cli_context_new (cli, command, entries);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) procs = NULL;
  g_autoptr(GHashTable) stats = NULL;

  g_option_context_set_description (context,
      _("UPTIME is the time since the last start, CPU the share of one core\n"
        "used since then, MEM the resident memory of the main process."));
  if (!pm_cli_parse (context, &argc, &argv))
    return PM_CLI_EXIT_USAGE;
  if (argc > 1)
    return pm_cli_usage_error (context, _("list takes no arguments"));
  if (!pm_cli_connect (cli, &error) ||
      (procs = pm_cli_all (cli, &error)) == NULL ||
      (stats = pm_cli_stats (cli, &error)) == NULL)
    return pm_cli_fail (error);

  if (json)
    print_json (procs, stats);
  else
    print_table (procs, stats);
  return PM_CLI_EXIT_OK;
}
