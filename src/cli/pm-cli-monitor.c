/* pm-cli-monitor.c — `elife-pm monitor`: one line per Started, Stopping,
 * Exited and State change (and a process added or forgotten), with the
 * time, id, name and pid, until interrupted.
 *
 * Signals come from the manager proxy, state changes from the object
 * manager's process proxies. A header line is printed once both are
 * subscribed, so whatever happens after it is shown.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <glib/gi18n.h>

#include "pm-cli.h"

static void
emit (guint       id,
      const char *name,
      guint       pid,
      const char *event)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *time = g_date_time_format (now, "%H:%M:%S");

  g_print ("%s.%03d  %4u  %-16s  %7u  %s\n", time, g_date_time_get_microsecond (now) / 1000,
           id, name && *name ? name : "-", pid, event);
  fflush (stdout);
}

static void
on_started (PmDBusProcessManager *manager,
            guint id, const char *name, guint pid,
            gpointer user_data)
{
  emit (id, name, pid, _("started"));
}

static void
on_stopping (PmDBusProcessManager *manager,
             guint id, const char *name, guint pid,
             gpointer user_data)
{
  emit (id, name, pid, _("stopping"));
}

static void
on_exited (PmDBusProcessManager *manager,
           guint id, const char *name, guint pid, gint code, gint sig,
           gpointer user_data)
{
  g_autofree char *event = sig != 0
    ? g_strdup_printf (_("exited: killed by signal %d (%s)"), sig, g_strsignal (sig))
    : g_strdup_printf (_("exited: code %d"), code);

  emit (id, name, pid, event);
}

static void
on_properties_changed (GDBusObjectManagerClient *objects,
                       GDBusObjectProxy         *object,
                       GDBusProxy               *proxy,
                       GVariant                 *changed,
                       const char *const        *invalidated,
                       gpointer                  user_data)
{
  const char *state;

  if (PM_DBUS_IS_PROCESS_MANAGER_PROCESS (proxy) &&
      g_variant_lookup (changed, "State", "&s", &state))
    {
      PmDBusProcessManagerProcess *p = PM_DBUS_PROCESS_MANAGER_PROCESS (proxy);
      g_autofree char *event = g_strdup_printf (_("state: %s"), state);

      emit (pm_dbus_process_manager_process_get_id (p),
            pm_dbus_process_manager_process_get_name (p),
            pm_dbus_process_manager_process_get_pid (p), event);
    }
}

/* A process appears (Start) with its first state, and goes when it is
 * forgotten (Stop, StopAll, replace). */
static void
on_object (GDBusObjectManager *objects,
           GDBusObject        *object,
           gpointer            user_data)
{
  g_autoptr(PmDBusProcessManagerProcess) p =
    pm_dbus_object_get_process_manager_process (PM_DBUS_OBJECT (object));
  gboolean added = GPOINTER_TO_INT (user_data);

  if (p != NULL)
    {
      g_autofree char *event = added
        ? g_strdup_printf (_("added: %s"), pm_dbus_process_manager_process_get_state (p))
        : g_strdup (_("removed"));

      emit (pm_dbus_process_manager_process_get_id (p),
            pm_dbus_process_manager_process_get_name (p),
            pm_dbus_process_manager_process_get_pid (p), event);
    }
}

static void
on_owner (GObject    *objects,
          GParamSpec *pspec,
          PmCli      *cli)
{
  g_autofree char *owner = g_dbus_object_manager_client_get_name_owner (
      G_DBUS_OBJECT_MANAGER_CLIENT (objects));

  if (owner == NULL)
    {
      g_printerr (_("elife-pm: elife-pmd left %s\n"), cli->bus_label);
      cli->status = PM_CLI_EXIT_FAILURE;
      g_main_loop_quit (cli->loop);
    }
}

int
pm_cli_monitor (PmCli              *cli,
                const PmCliCommand *command,
                int                 argc,
                char              **argv)
{
  g_autoptr(GOptionContext) context = pm_cli_context_new (cli, command, NULL);
  g_autoptr(GError) error = NULL;
  GDBusObjectManager *objects;

  g_option_context_set_description (context,
      _("Each line: time, id, name, pid, event. Events: started, stopping,\n"
        "exited (with the code or signal), state (running, stopping, backoff,\n"
        "exited), added (a new process) and removed (a process forgotten).\n"
        "Ctrl+C ends it."));
  if (!pm_cli_parse (context, &argc, &argv))
    return PM_CLI_EXIT_USAGE;
  if (argc > 1)
    return pm_cli_usage_error (context, _("monitor takes no arguments"));
  if (!pm_cli_connect (cli, &error))
    return pm_cli_fail (error);

  g_signal_connect (cli->manager, "started", G_CALLBACK (on_started), cli);
  g_signal_connect (cli->manager, "stopping", G_CALLBACK (on_stopping), cli);
  g_signal_connect (cli->manager, "exited", G_CALLBACK (on_exited), cli);
  /* Made after the manager proxy subscribed: its GetManagedObjects reply
   * also means the bus has our match rules. */
  objects = pm_cli_objects (cli, &error);
  if (objects == NULL)
    return pm_cli_fail (error);
  g_signal_connect (objects, "interface-proxy-properties-changed",
                    G_CALLBACK (on_properties_changed), cli);
  g_signal_connect (objects, "notify::name-owner", G_CALLBACK (on_owner), cli);
  g_signal_connect (objects, "object-added", G_CALLBACK (on_object), GINT_TO_POINTER (TRUE));
  g_signal_connect (objects, "object-removed", G_CALLBACK (on_object), GINT_TO_POINTER (FALSE));

  /* TRANSLATORS: the header of `elife-pm monitor`. */
  g_print ("%-12s  %4s  %-16s  %7s  %s\n", _("TIME"), _("ID"), _("NAME"), _("PID"), _("EVENT"));
  fflush (stdout);
  cli->status = PM_CLI_EXIT_OK;
  pm_cli_run_until_interrupted (cli);
  g_signal_handlers_disconnect_by_data (cli->manager, cli);
  g_signal_handlers_disconnect_by_data (objects, cli);
  g_signal_handlers_disconnect_by_func (objects, on_object, GINT_TO_POINTER (TRUE));
  g_signal_handlers_disconnect_by_func (objects, on_object, GINT_TO_POINTER (FALSE));
  return cli->status;
}
