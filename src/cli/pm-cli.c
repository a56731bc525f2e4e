/* pm-cli.c — what the commands of `elife-pm` share (see pm-cli.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gi18n.h>
#include <glib-unix.h>

#include "pm-cli.h"
#include "pm-cli-format.h"
#include "pm-names.h"

const GOptionEntry *
pm_cli_bus_entries (PmCli *cli)
{
  /* Static so that it can be returned (GOption copies the entries, but
   * their arg_data point into the one PmCli of this run). */
  static GOptionEntry entries[4];
  const GOptionEntry init[] = {
    { "session", 0, 0, G_OPTION_ARG_NONE, &cli->session,
      N_("Talk to elife-pmd on the session bus (the default)"), NULL },
    { "system", 0, 0, G_OPTION_ARG_NONE, &cli->system,
      N_("Talk to elife-pmd on the system bus"), NULL },
    { "address", 0, 0, G_OPTION_ARG_STRING, &cli->address,
      N_("Talk to elife-pmd on the bus at ADDRESS (default: $ELIFE_PM_ADDRESS, else the session bus)"),
      N_("ADDRESS") },
    G_OPTION_ENTRY_NULL
  };

  G_STATIC_ASSERT (G_N_ELEMENTS (init) == G_N_ELEMENTS (entries));
  memcpy (entries, init, sizeof entries);
  return entries;
}

GOptionContext *
pm_cli_context_new (PmCli              *cli,
                    const PmCliCommand *command,
                    const GOptionEntry *entries)
{
  g_autofree char *usage = *command->arguments
    ? g_strdup_printf ("%s %s", command->name, _(command->arguments))
    : g_strdup (command->name);
  GOptionContext *context = g_option_context_new (usage);

  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_set_summary (context, _(command->description));
  if (entries != NULL)
    g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  /* The bus options are accepted after the command too, and shown. */
  g_option_context_add_main_entries (context, pm_cli_bus_entries (cli), GETTEXT_PACKAGE);
  return context;
}

int
pm_cli_usage_error (GOptionContext *context,
                    const char     *message)
{
  g_autofree char *help = g_option_context_get_help (context, TRUE, NULL);

  g_printerr ("elife-pm: %s\n\n%s", message, help);
  return PM_CLI_EXIT_USAGE;
}

gboolean
pm_cli_parse (GOptionContext *context,
              int            *argc,
              char         ***argv)
{
  g_autoptr(GError) error = NULL;

  if (!g_option_context_parse (context, argc, argv, &error))
    {
      pm_cli_usage_error (context, error->message);
      return FALSE;
    }
  return TRUE;
}

int
pm_cli_fail (GError *error)
{
  if (g_dbus_error_is_remote_error (error))
    g_dbus_error_strip_remote_error (error);
  g_printerr ("elife-pm: %s\n", error->message);
  return PM_CLI_EXIT_FAILURE;
}

/* ---- the bus ---------------------------------------------------------------- */

gboolean
pm_cli_connect (PmCli   *cli,
                GError **error)
{
  const char *env = g_getenv ("ELIFE_PM_ADDRESS");
  const char *address = cli->address;
  g_autoptr(GError) local = NULL;
  g_autoptr(GVariant) pong = NULL;

  if (address == NULL && !cli->system && !cli->session && env != NULL && *env != '\0')
    address = env;

  if (address != NULL)
    {
      cli->bus_label = g_strdup_printf (_("the bus at %s"), address);
      cli->connection = g_dbus_connection_new_for_address_sync (
          address,
          G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
          G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
          NULL, NULL, &local);
    }
  else
    {
      GBusType type = cli->system ? G_BUS_TYPE_SYSTEM : G_BUS_TYPE_SESSION;

      cli->bus_label = g_strdup (cli->system ? _("the system bus") : _("the session bus"));
      cli->connection = g_bus_get_sync (type, NULL, &local);
    }
  if (cli->connection == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("Cannot connect to %s: %s"),
                   cli->bus_label, local->message);
      return FALSE;
    }

  /* One round trip that also activates the daemon where the bus can. */
  pong = g_dbus_connection_call_sync (cli->connection, PM_DBUS_NAME, PM_DBUS_PATH,
                                      "org.freedesktop.DBus.Peer", "Ping", NULL, NULL,
                                      G_DBUS_CALL_FLAGS_NONE, -1, NULL, &local);
  if (pong == NULL)
    {
      if (g_error_matches (local, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
          g_error_matches (local, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER))
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                     _("elife-pmd is not running on %s (nothing owns %s, and it cannot be activated)"),
                     cli->bus_label, PM_DBUS_NAME);
      else
        {
          g_dbus_error_strip_remote_error (local);
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("elife-pmd on %s does not answer: %s"),
                       cli->bus_label, local->message);
        }
      return FALSE;
    }

  cli->manager = pm_dbus_process_manager_proxy_new_sync (
      cli->connection, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START, PM_DBUS_NAME, PM_DBUS_PATH,
      NULL, error);
  if (cli->manager == NULL)
    return FALSE;
  /* Stop and Restart reply when the stop protocol is done, which may take
   * up to twice a stopTimeout of an hour: wait as long as it takes. */
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (cli->manager), G_MAXINT);
  return TRUE;
}

GDBusObjectManager *
pm_cli_objects (PmCli   *cli,
                GError **error)
{
  if (cli->objects == NULL)
    cli->objects = pm_dbus_object_manager_client_new_sync (
        cli->connection, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
        PM_DBUS_NAME, PM_DBUS_PATH, NULL, error);
  return cli->objects;
}

static gint
by_id (gconstpointer a,
       gconstpointer b)
{
  guint ia = pm_dbus_process_manager_process_get_id (*(PmDBusProcessManagerProcess **) a);
  guint ib = pm_dbus_process_manager_process_get_id (*(PmDBusProcessManagerProcess **) b);

  return ia < ib ? -1 : ia > ib;
}

GPtrArray *
pm_cli_all (PmCli   *cli,
            GError **error)
{
  GDBusObjectManager *objects = pm_cli_objects (cli, error);
  GPtrArray *all;
  GList *list;

  if (objects == NULL)
    return NULL;
  all = g_ptr_array_new_with_free_func (g_object_unref);
  list = g_dbus_object_manager_get_objects (objects);
  for (GList *l = list; l; l = l->next)
    {
      PmDBusProcessManagerProcess *p =
        pm_dbus_object_get_process_manager_process (PM_DBUS_OBJECT (l->data));

      if (p != NULL)
        {
          g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (p), G_MAXINT);
          g_ptr_array_add (all, p);
        }
    }
  g_list_free_full (list, g_object_unref);
  g_ptr_array_sort (all, by_id);
  return all;
}

GPtrArray *
pm_cli_find (PmCli      *cli,
             const char *target,
             GError    **error)
{
  g_autoptr(GPtrArray) all = pm_cli_all (cli, error);
  g_autoptr(GPtrArray) found = NULL;
  guint32 id = 0;
  gboolean is_id = pm_cli_parse_target (target, &id);

  if (all == NULL)
    return NULL;
  found = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < all->len; i++)
    {
      PmDBusProcessManagerProcess *p = g_ptr_array_index (all, i);

      if (is_id ? pm_dbus_process_manager_process_get_id (p) == id
                : g_strcmp0 (pm_dbus_process_manager_process_get_name (p), target) == 0)
        g_ptr_array_add (found, g_object_ref (p));
    }
  if (found->len == 0)
    {
      if (is_id)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, _("No process has id %s"), target);
      else
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, _("No process is named “%s”"), target);
      return NULL;
    }
  return g_steal_pointer (&found);
}

GHashTable *
pm_cli_stats (PmCli   *cli,
              GError **error)
{
  g_autoptr(GVariant) stats = NULL;
  GHashTable *table;
  GVariantIter iter;
  guint32 id, pid;
  guint64 cpu, rss;

  if (!pm_dbus_process_manager_call_stats_sync (cli->manager, &stats, NULL, error))
    return NULL;
  table = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  g_variant_iter_init (&iter, stats);
  while (g_variant_iter_next (&iter, "(uutt)", &id, &pid, &cpu, &rss))
    {
      guint64 *v = g_new (guint64, 3);

      v[0] = pid;
      v[1] = cpu;
      v[2] = rss;
      g_hash_table_insert (table, GUINT_TO_POINTER (id), v);
    }
  return table;
}

void
pm_cli_append_process_json (GString                     *out,
                            PmDBusProcessManagerProcess *process,
                            GHashTable                  *stats)
{
  GDBusProxy *proxy = G_DBUS_PROXY (process);
  g_auto(GStrv) names = g_dbus_proxy_get_cached_property_names (proxy);
  guint64 *s = g_hash_table_lookup (stats, GUINT_TO_POINTER (
                                      pm_dbus_process_manager_process_get_id (process)));

  g_string_append_c (out, '{');
  for (char **n = names; n && *n; n++)
    {
      g_autoptr(GVariant) v = g_dbus_proxy_get_cached_property (proxy, *n);
      g_autofree char *key = pm_cli_json_key (*n);

      pm_cli_json_append_string (out, key);
      g_string_append_c (out, ':');
      pm_cli_json_append_variant (out, v);
      g_string_append_c (out, ',');
    }
  g_string_append_printf (out, "\"cpuUsec\":%" G_GUINT64_FORMAT ",\"rssBytes\":%" G_GUINT64_FORMAT "}",
                          s ? s[1] : 0, s ? s[2] : 0);
}

/* ---- the loop ----------------------------------------------------------------- */

static gboolean
on_interrupt (gpointer user_data)
{
  PmCli *cli = user_data;

  g_main_loop_quit (cli->loop);
  return G_SOURCE_CONTINUE;
}

void
pm_cli_run_until_interrupted (PmCli *cli)
{
  guint sources[3];

  if (cli->loop == NULL)
    cli->loop = g_main_loop_new (NULL, FALSE);
  sources[0] = g_unix_signal_add (SIGINT, on_interrupt, cli);
  sources[1] = g_unix_signal_add (SIGTERM, on_interrupt, cli);
  sources[2] = g_unix_signal_add (SIGHUP, on_interrupt, cli);
  g_main_loop_run (cli->loop);
  for (guint i = 0; i < G_N_ELEMENTS (sources); i++)
    g_source_remove (sources[i]);
}

void
pm_cli_clear (PmCli *cli)
{
  g_clear_object (&cli->objects);
  g_clear_object (&cli->manager);
  g_clear_object (&cli->connection);
  g_clear_pointer (&cli->loop, g_main_loop_unref);
  g_clear_pointer (&cli->bus_label, g_free);
  g_clear_pointer (&cli->address, g_free);
}

/* ---- stop and restart ----------------------------------------------------------- */

static gboolean
act_on_one (PmCli      *cli,
            const char *target,
            gboolean    restart,
            guint      *count,
            GError    **error)
{
  guint32 id;

  if (pm_cli_parse_target (target, &id))
    {
      g_autoptr(GPtrArray) found = pm_cli_find (cli, target, error);
      PmDBusProcessManagerProcess *p;

      if (found == NULL)
        return FALSE;
      p = g_ptr_array_index (found, 0);
      if (!(restart ? pm_dbus_process_manager_process_call_restart_sync (p, NULL, error)
                    : pm_dbus_process_manager_process_call_stop_sync (p, NULL, error)))
        return FALSE;
      *count = 1;
      return TRUE;
    }
  return restart ? pm_dbus_process_manager_call_restart_sync (cli->manager, target, count, NULL, error)
                 : pm_dbus_process_manager_call_stop_sync (cli->manager, target, count, NULL, error);
}

int
pm_cli_act_on_targets (PmCli              *cli,
                       const PmCliCommand *command,
                       int                 argc,
                       char              **argv,
                       gboolean            restart)
{
  g_autoptr(GOptionContext) context = pm_cli_context_new (cli, command, NULL);
  g_autoptr(GError) error = NULL;
  int status = PM_CLI_EXIT_OK;
  guint total = 0;

  g_option_context_set_description (context,
      _("A target of digits only is an id; anything else is a name, which\n"
        "stands for every process with that name."));
  if (!pm_cli_parse (context, &argc, &argv))
    return PM_CLI_EXIT_USAGE;
  if (argc < 2)
    return pm_cli_usage_error (context, _("No NAME or ID given"));
  if (!pm_cli_connect (cli, &error))
    return pm_cli_fail (error);

  for (int i = 1; i < argc; i++)
    {
      guint count = 0;

      if (act_on_one (cli, argv[i], restart, &count, &error))
        total += count;
      else
        {
          status = pm_cli_fail (error);
          g_clear_error (&error);
        }
    }
  if (status != PM_CLI_EXIT_OK && total == 0)
    return status;
  if (restart)
    g_print (g_dngettext (GETTEXT_PACKAGE, "Restarted %u process\n", "Restarted %u processes\n", total),
             total);
  else
    g_print (g_dngettext (GETTEXT_PACKAGE, "Stopped %u process\n", "Stopped %u processes\n", total),
             total);
  return status;
}
