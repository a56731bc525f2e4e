/* pm-manager.c — PmManager: the org.elife.ProcessManager object and the
 * registry of processes.
 *
 * Methods that act on several processes (Stop, Restart, StopAll, replace,
 * stopWithCaller, shutdown) run them in parallel as one Batch and answer
 * when the last one is done. A process being forgotten is marked
 * "removing" at once, so that no other call starts it again meanwhile.
 *
 * Every process belongs to the unix user of the connection that started it.
 * Methods that act (rather than read) first learn the caller's uid from the
 * bus (cached per unique name, which the bus never reuses), then see only
 * the caller's own processes, unless the caller is root.
 */
#include "config.h"

#define G_LOG_DOMAIN "pm-manager"

#include <malloc.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gi18n.h>

#include "pm-creds.h"
#include "pm-error.h"
#include "pm-log.h"
#include "pm-manager.h"
#include "pm-names.h"
#include "pm-options.h"
#include "pm-process.h"
#include "pm-procstat.h"
#include "pm-spawn.h"

typedef struct
{
  guint      watch_id;
  GPtrArray *processes;   /* of PmProcess* (not owned) */
} CallerWatch;

struct _PmManager
{
  PmDBusProcessManagerSkeleton parent_instance;

  GDBusConnection          *connection;
  guint                     object_manager_id;  /* its registration, while exported */
  GPtrArray                *processes;   /* of PmProcess*, by increasing id */
  GHashTable               *by_id;       /* id → PmProcess* (not owned) */
  GHashTable               *callers;     /* unique name → CallerWatch* */
  GHashTable               *caller_of;   /* PmProcess* → its caller's name (stopWithCaller) */
  GHashTable               *uids;        /* unique name → CallerUid* */
  GHashTable               *per_user;    /* uid → processes registered or being started */
  uid_t                     daemon_uid;
  guint                     max_per_user;
  guint                     next_id;
  guint                     starting;    /* Start calls admitted, not yet registered or failed */
  guint                     activity;    /* calls and forgets since the last trim */
  guint                     trim_timer;
  gboolean                  shutting_down;
  GVariant                 *list_reply;  /* List's last answer, while nothing in it changed */
  guint64                   list_generation;
  GVariant                 *objects_reply;  /* GetManagedObjects', likewise */
  guint64                   objects_generation;
};

static void pm_manager_iface_init (PmDBusProcessManagerIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (PmManager, pm_manager, PM_DBUS_TYPE_PROCESS_MANAGER_SKELETON,
                               G_IMPLEMENT_INTERFACE (PM_DBUS_TYPE_PROCESS_MANAGER,
                                                      pm_manager_iface_init))

/* ---- memory ------------------------------------------------------------ */

/* Work after which freed memory is worth handing back. */
#define TRIM_AFTER_ACTIVITY 256
#define TRIM_DELAY_MS       500

static gboolean
on_trim_timer (gpointer user_data)
{
  PmManager *self = user_data;

  self->trim_timer = 0;
  self->activity = 0;
  /* Kept replies that no longer hold are freed with the rest. */
  if (self->list_generation != pm_process_get_generation ())
    g_clear_pointer (&self->list_reply, g_variant_unref);
  if (self->objects_generation != pm_process_get_generation ())
    g_clear_pointer (&self->objects_reply, g_variant_unref);
  /* A burst (thousands of calls, a StopAll of a thousand processes) leaves
   * freed memory in malloc's arenas, the D-Bus thread's included; an idle
   * daemon should not keep it. One-shot: an idle daemon never wakes. */
  malloc_trim (0);
  g_debug ("Trimmed the heap after a burst");
  return G_SOURCE_REMOVE;
}

static void
note_activity (PmManager *self)
{
  if (++self->activity >= TRIM_AFTER_ACTIVITY && self->trim_timer == 0)
    self->trim_timer = g_timeout_add (TRIM_DELAY_MS, on_trim_timer, self);
}

/* Every spawn, a crash restart included, is work whose garbage (signals
 * sent, the child's bookkeeping) is worth handing back after a burst: a
 * crash loop makes no calls. */
static void
on_started (PmManager  *self,
            guint       id,
            const char *name,
            guint       pid,
            gpointer    user_data)
{
  note_activity (self);
}

/* ---- batches ---------------------------------------------------------- */

typedef void (*BatchDoneFunc) (PmManager *self,
                               guint      count,
                               GError    *error,     /* first error, or NULL */
                               gpointer   user_data);

typedef struct
{
  PmManager    *self;
  guint         pending;
  guint         count;
  GError       *error;
  BatchDoneFunc done;
  gpointer      user_data;
} Batch;

static Batch *
batch_new (PmManager    *self,
           BatchDoneFunc done,
           gpointer      user_data)
{
  Batch *batch = g_new0 (Batch, 1);

  batch->self = g_object_ref (self);
  batch->pending = 1;   /* released by batch_step() after queueing */
  batch->done = done;
  batch->user_data = user_data;
  return batch;
}

static void
batch_step (Batch *batch)
{
  if (--batch->pending > 0)
    return;
  batch->done (batch->self, batch->count, batch->error, batch->user_data);
  g_clear_error (&batch->error);
  g_object_unref (batch->self);
  g_free (batch);
}

/* ---- callers ---------------------------------------------------------- */

/* Continues a method once the caller's uid is known. */
typedef void (*CallerFunc) (PmManager             *self,
                            GDBusMethodInvocation *invocation,
                            guint                  uid,
                            gpointer               data);

typedef struct
{
  CallerFunc             func;
  GDBusMethodInvocation *invocation;
  gpointer               data;
  GDestroyNotify         abort;     /* frees data when the uid cannot be had */
} UidWaiter;

typedef struct
{
  gboolean  known;
  guint     uid;
  GArray   *waiters;   /* of UidWaiter, while the bus has not answered */
} CallerUid;

/* Entries kept before the known ones are dropped (they are only a cache). */
#define UID_CACHE_MAX 4096

static void
caller_uid_free (CallerUid *entry)
{
  g_clear_pointer (&entry->waiters, g_array_unref);
  g_free (entry);
}

typedef struct
{
  PmManager *self;
  char      *sender;
} UidLookup;

static void
on_unix_user (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  UidLookup *lookup = user_data;
  PmManager *self = lookup->self;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GArray) waiters = NULL;
  CallerUid *entry;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  entry = g_hash_table_lookup (self->uids, lookup->sender);
  g_assert (entry != NULL && !entry->known);
  waiters = g_steal_pointer (&entry->waiters);

  if (reply != NULL)
    {
      g_variant_get (reply, "(u)", &entry->uid);
      entry->known = TRUE;
      g_debug ("Caller %s is uid %u", lookup->sender, entry->uid);
    }
  else
    g_hash_table_remove (self->uids, lookup->sender);

  for (guint i = 0; i < waiters->len; i++)
    {
      UidWaiter *w = &g_array_index (waiters, UidWaiter, i);

      if (reply != NULL)
        w->func (self, w->invocation, entry->uid, w->data);
      else
        {
          g_dbus_method_invocation_return_error (w->invocation, G_DBUS_ERROR,
                                                 G_DBUS_ERROR_ACCESS_DENIED,
                                                 _("Could not tell who the caller is: %s"),
                                                 error->message);
          if (w->abort != NULL)
            w->abort (w->data);
        }
    }

  g_free (lookup->sender);
  g_object_unref (lookup->self);
  g_free (lookup);
}

static gboolean
uid_known (gpointer key,
           gpointer value,
           gpointer user_data)
{
  return ((CallerUid *) value)->known;
}

/* Runs @func with the uid of @invocation's sender: at once when known,
 * else once the bus has said (calls of one sender keep their order). */
static void
with_caller_uid (PmManager             *self,
                 GDBusMethodInvocation *invocation,
                 CallerFunc             func,
                 gpointer               data,
                 GDestroyNotify         abort)
{
  const char *sender = g_dbus_method_invocation_get_sender (invocation);
  UidWaiter waiter = { func, invocation, data, abort };
  CallerUid *entry;
  UidLookup *lookup;

  /* A peer-to-peer connection: no bus, only ourselves. */
  if (sender == NULL)
    {
      func (self, invocation, self->daemon_uid, data);
      return;
    }

  entry = g_hash_table_lookup (self->uids, sender);
  if (entry != NULL && entry->known)
    {
      func (self, invocation, entry->uid, data);
      return;
    }
  if (entry != NULL)
    {
      g_array_append_val (entry->waiters, waiter);
      return;
    }

  if (g_hash_table_size (self->uids) >= UID_CACHE_MAX)
    g_hash_table_foreach_remove (self->uids, uid_known, NULL);
  entry = g_new0 (CallerUid, 1);
  entry->waiters = g_array_new (FALSE, FALSE, sizeof (UidWaiter));
  g_array_append_val (entry->waiters, waiter);
  g_hash_table_insert (self->uids, g_strdup (sender), entry);

  lookup = g_new0 (UidLookup, 1);
  lookup->self = g_object_ref (self);
  lookup->sender = g_strdup (sender);
  g_dbus_connection_call (self->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "GetConnectionUnixUser",
                          g_variant_new ("(s)", sender), G_VARIANT_TYPE ("(u)"),
                          G_DBUS_CALL_FLAGS_NONE, -1, NULL, on_unix_user, lookup);
}

/* Root acts on every process; anyone else on their own. */
static gboolean
may_act_on (guint      uid,
            PmProcess *process)
{
  return uid == 0 || pm_process_get_uid (process) == uid;
}

static gboolean
return_access_denied (GDBusMethodInvocation *invocation,
                      PmProcess             *process)
{
  g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED,
                                         _("Process %u belongs to user %u"),
                                         pm_process_get_id (process),
                                         pm_process_get_uid (process));
  return TRUE;
}

/* Processes registered or being started, per owner (the fair-share cap). */
static guint
user_count (PmManager *self,
            guint      uid)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (self->per_user, GUINT_TO_POINTER (uid)));
}

static void
user_reserve (PmManager *self,
              guint      uid)
{
  g_hash_table_insert (self->per_user, GUINT_TO_POINTER (uid),
                       GUINT_TO_POINTER (user_count (self, uid) + 1));
}

static void
user_release (PmManager *self,
              guint      uid)
{
  guint n = user_count (self, uid);

  g_return_if_fail (n > 0);
  if (n == 1)
    g_hash_table_remove (self->per_user, GUINT_TO_POINTER (uid));
  else
    g_hash_table_insert (self->per_user, GUINT_TO_POINTER (uid), GUINT_TO_POINTER (n - 1));
}

/* Whether @uid is another user than root or the daemon's own: then its
 * children run as it, and the fair-share cap applies. */
static gboolean
is_other_user (PmManager *self,
               guint      uid)
{
  return uid != 0 && uid != self->daemon_uid;
}

/* ---- the ObjectManager ------------------------------------------------ */

/* org.freedesktop.DBus.ObjectManager at PM_DBUS_PATH, the daemon's own
 * rather than a GDBusObjectManagerServer: that one wraps every process in an
 * object skeleton of its own, watched with signals and torn down when it
 * goes (15% of the main thread's time in a StopAll of 10,000, beyond the
 * InterfacesRemoved it sends), and builds GetManagedObjects' reply anew for
 * every call. Here the process skeletons are exported directly, the signals
 * are the same, in the same order (InterfacesAdded after the export,
 * InterfacesRemoved before the unexport), and the reply is kept while
 * nothing in it changed, as List's. */
static const char object_manager_xml[] =
  "<node>"
  "  <interface name='org.freedesktop.DBus.ObjectManager'>"
  "    <method name='GetManagedObjects'>"
  "      <arg name='objects' type='a{oa{sa{sv}}}' direction='out'/>"
  "    </method>"
  "    <signal name='InterfacesAdded'>"
  "      <arg name='object_path' type='o'/>"
  "      <arg name='interfaces_and_properties' type='a{sa{sv}}'/>"
  "    </signal>"
  "    <signal name='InterfacesRemoved'>"
  "      <arg name='object_path' type='o'/>"
  "      <arg name='interfaces' type='as'/>"
  "    </signal>"
  "  </interface>"
  "</node>";

#define OBJECT_MANAGER_INTERFACE "org.freedesktop.DBus.ObjectManager"

static GDBusInterfaceInfo *
object_manager_info (void)
{
  static GDBusNodeInfo *node;   /* parsed once, kept for the process's life */

  if (g_once_init_enter (&node))
    {
      g_autoptr(GError) error = NULL;
      GDBusNodeInfo *parsed = g_dbus_node_info_new_for_xml (object_manager_xml, &error);

      g_assert_no_error (error);
      g_once_init_leave (&node, parsed);
    }
  return node->interfaces[0];
}

/* { PM_DBUS_PROCESS_INTERFACE: its properties }, floating. */
static GVariant *
process_interfaces (PmProcess *process)
{
  /* A full reference, not a floating one (GDBus takes it). */
  g_autoptr(GVariant) properties =
    g_dbus_interface_skeleton_get_properties (G_DBUS_INTERFACE_SKELETON (process));
  GVariant *entry = g_variant_new_dict_entry (g_variant_new_string (PM_DBUS_PROCESS_INTERFACE),
                                              properties);

  return g_variant_new_array (NULL, &entry, 1);
}

static void
object_manager_method_call (GDBusConnection       *connection,
                            const char            *sender,
                            const char            *object_path,
                            const char            *interface_name,
                            const char            *method_name,
                            GVariant              *parameters,
                            GDBusMethodInvocation *invocation,
                            gpointer               user_data)
{
  PmManager *self = user_data;

  /* GDBus has checked the name (GetManagedObjects is the only method) and
   * the arguments (none) against object_manager_info(). */
  note_activity (self);
  if (self->objects_reply == NULL || self->objects_generation != pm_process_get_generation ())
    {
      /* Built afresh in one go and in tree form, for the reasons List's
       * reply is (pm_manager_handle_list). */
      g_autofree GVariant **objects = g_new (GVariant *, self->processes->len);
      GVariant *array;

      for (guint i = 0; i < self->processes->len; i++)
        {
          PmProcess *process = g_ptr_array_index (self->processes, i);

          objects[i] = g_variant_new_dict_entry (
              g_variant_new_object_path (pm_process_get_object_path (process)),
              process_interfaces (process));
        }
      array = g_variant_new_array (G_VARIANT_TYPE ("{oa{sa{sv}}}"), objects, self->processes->len);
      g_clear_pointer (&self->objects_reply, g_variant_unref);
      self->objects_reply = g_variant_ref_sink (g_variant_new_tuple (&array, 1));
      self->objects_generation = pm_process_get_generation ();
    }
  g_dbus_method_invocation_return_value (invocation, self->objects_reply);
}

static const GDBusInterfaceVTable object_manager_vtable = {
  .method_call = object_manager_method_call,
};

/* Exports @process's skeleton at its path and announces it. Before the
 * reply to its Start: GDBus's own thread looks the object up as soon as the
 * caller's next call arrives, before the main loop runs. */
static void
object_manager_add (PmManager *self,
                    PmProcess *process)
{
  g_autoptr(GError) error = NULL;
  const char *path = pm_process_get_object_path (process);

  if (self->object_manager_id == 0)
    return;     /* not on the bus (any more) */
  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (process),
                                         self->connection, path, &error))
    {
      g_warning ("Cannot export %s: %s", path, error->message);
      return;
    }
  g_dbus_connection_emit_signal (self->connection, NULL, PM_DBUS_PATH,
                                 OBJECT_MANAGER_INTERFACE, "InterfacesAdded",
                                 g_variant_new ("(o@a{sa{sv}})", path,
                                                process_interfaces (process)),
                                 NULL);
}

static void
object_manager_remove (PmManager *self,
                       PmProcess *process)
{
  GDBusInterfaceSkeleton *skeleton = G_DBUS_INTERFACE_SKELETON (process);
  static const char *const interfaces[] = { PM_DBUS_PROCESS_INTERFACE, NULL };

  if (g_dbus_interface_skeleton_get_connection (skeleton) == NULL)
    return;     /* never exported, or unexported with the manager */
  g_dbus_connection_emit_signal (self->connection, NULL, PM_DBUS_PATH,
                                 OBJECT_MANAGER_INTERFACE, "InterfacesRemoved",
                                 g_variant_new ("(o^as)", pm_process_get_object_path (process),
                                                interfaces),
                                 NULL);
  g_dbus_interface_skeleton_unexport (skeleton);
}

/* ---- the registry ----------------------------------------------------- */

static void
caller_watch_free (CallerWatch *watch)
{
  g_bus_unwatch_name (watch->watch_id);
  g_ptr_array_unref (watch->processes);
  g_free (watch);
}

/* Where process @id is or would be in the registry. */
static guint
find_index (PmManager *self,
            guint      id)
{
  guint lo = 0, hi = self->processes->len;

  if (hi == 0)
    return 0;
  while (hi - lo > 1)
    {
      guint mid = lo + (hi - lo) / 2;

      if (pm_process_get_id (g_ptr_array_index (self->processes, mid)) <= id)
        lo = mid;
      else
        hi = mid;
    }
  return lo;
}

static void
forget (PmManager *self,
        PmProcess *process)
{
  guint id = pm_process_get_id (process);
  const char *caller;

  if (!g_hash_table_remove (self->by_id, GUINT_TO_POINTER (id)))
    return;
  user_release (self, pm_process_get_uid (process));

  caller = g_hash_table_lookup (self->caller_of, process);
  if (caller != NULL)
    {
      CallerWatch *watch = g_hash_table_lookup (self->callers, caller);

      if (watch != NULL && g_ptr_array_remove_fast (watch->processes, process) &&
          watch->processes->len == 0)
        g_hash_table_remove (self->callers, caller);
      g_hash_table_remove (self->caller_of, process);
    }

  object_manager_remove (self, process);
  note_activity (self);
  g_debug ("Process %u forgotten", id);
  /* Last: this drops the registry's reference. The array is by increasing
   * id: a StopAll of thousands must not scan it once per process. */
  {
    guint i = find_index (self, id);

    if (i < self->processes->len && g_ptr_array_index (self->processes, i) == process)
      g_ptr_array_remove_index (self->processes, i);
    else
      g_ptr_array_remove (self->processes, process);
    pm_process_changed ();
  }
}

static void
on_forget_stopped (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  Batch *batch = user_data;
  PmProcess *process = PM_PROCESS (source);

  pm_process_stop_finish (process, result, NULL);
  forget (batch->self, process);
  batch_step (batch);
}

/* Stops and forgets every process of @procs, in parallel. */
static void
stop_and_forget (PmManager    *self,
                 GPtrArray    *procs,
                 BatchDoneFunc done,
                 gpointer      user_data)
{
  Batch *batch = batch_new (self, done, user_data);

  for (guint i = 0; i < procs->len; i++)
    {
      PmProcess *process = g_ptr_array_index (procs, i);

      pm_process_set_removing (process);
      batch->pending++;
      batch->count++;
      pm_process_stop_async (process, on_forget_stopped, batch);
    }
  batch_step (batch);
}

static void
on_batch_restarted (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  Batch *batch = user_data;
  GError *error = NULL;

  if (!pm_process_restart_finish (PM_PROCESS (source), result, &error))
    {
      if (batch->error == NULL)
        batch->error = error;
      else
        g_error_free (error);
    }
  batch_step (batch);
}

static void
restart_all (PmManager    *self,
             GPtrArray    *procs,
             BatchDoneFunc done,
             gpointer      user_data)
{
  Batch *batch = batch_new (self, done, user_data);

  for (guint i = 0; i < procs->len; i++)
    {
      batch->pending++;
      batch->count++;
      pm_process_restart_async (g_ptr_array_index (procs, i), on_batch_restarted, batch);
    }
  batch_step (batch);
}

/* Processes with @name (all when NULL) that are not being forgotten and
 * that @uid may act on. */
static GPtrArray *
find_processes (PmManager  *self,
                const char *name,
                guint       uid)
{
  GPtrArray *found = g_ptr_array_new_with_free_func (g_object_unref);

  for (guint i = 0; i < self->processes->len; i++)
    {
      PmProcess *process = g_ptr_array_index (self->processes, i);

      if (pm_process_get_removing (process) || !may_act_on (uid, process))
        continue;
      if (name == NULL || g_str_equal (pm_process_get_name (process), name))
        g_ptr_array_add (found, g_object_ref (process));
    }
  return found;
}

static gboolean
return_not_found (GDBusMethodInvocation *invocation,
                  const char            *name)
{
  g_dbus_method_invocation_return_error (invocation, PM_ERROR, PM_ERROR_NOT_FOUND,
                                         _("No process is named “%s”"), name);
  return TRUE;
}

/* Answers a method that replies (u count), or its error. */
static void
reply_count (PmManager *self,
             guint      count,
             GError    *error,
             gpointer   user_data)
{
  GDBusMethodInvocation *invocation = user_data;

  if (error != NULL)
    g_dbus_method_invocation_return_gerror (invocation, error);
  else
    g_dbus_method_invocation_return_value (invocation, g_variant_new ("(u)", count));
}

static void
reply_empty (PmManager *self,
             guint      count,
             GError    *error,
             gpointer   user_data)
{
  GDBusMethodInvocation *invocation = user_data;

  if (error != NULL)
    g_dbus_method_invocation_return_gerror (invocation, error);
  else
    g_dbus_method_invocation_return_value (invocation, NULL);
}

static void
batch_done_nothing (PmManager *self,
                    guint      count,
                    GError    *error,
                    gpointer   user_data)
{
}

/* ---- per-process methods ---------------------------------------------- */

static void
process_stop_as (PmManager             *self,
                 GDBusMethodInvocation *invocation,
                 guint                  uid,
                 gpointer               data)
{
  g_autoptr(PmProcess) process = data;
  g_autoptr(GPtrArray) procs = g_ptr_array_new ();

  if (!may_act_on (uid, process))
    {
      return_access_denied (invocation, process);
      return;
    }
  /* Already being forgotten: this call simply waits for the same end. */
  g_ptr_array_add (procs, process);
  stop_and_forget (self, procs, reply_empty, invocation);
}

static gboolean
on_process_handle_stop (PmDBusProcessManagerProcess *iface,
                        GDBusMethodInvocation       *invocation,
                        gpointer                     user_data)
{
  with_caller_uid (user_data, invocation, process_stop_as, g_object_ref (iface), g_object_unref);
  return TRUE;
}

static void
process_restart_as (PmManager             *self,
                    GDBusMethodInvocation *invocation,
                    guint                  uid,
                    gpointer               data)
{
  g_autoptr(PmProcess) process = data;
  g_autoptr(GPtrArray) procs = g_ptr_array_new ();

  if (!may_act_on (uid, process))
    {
      return_access_denied (invocation, process);
      return;
    }
  if (pm_process_get_removing (process))
    {
      g_dbus_method_invocation_return_error (invocation, PM_ERROR, PM_ERROR_NOT_FOUND,
                                             _("Process %u is being stopped"),
                                             pm_process_get_id (process));
      return;
    }
  g_ptr_array_add (procs, process);
  restart_all (self, procs, reply_empty, invocation);
}

static gboolean
on_process_handle_restart (PmDBusProcessManagerProcess *iface,
                           GDBusMethodInvocation       *invocation,
                           gpointer                     user_data)
{
  with_caller_uid (user_data, invocation, process_restart_as, g_object_ref (iface),
                   g_object_unref);
  return TRUE;
}

/* ---- stopWithCaller --------------------------------------------------- */

static void
on_caller_vanished (GDBusConnection *connection,
                    const char      *name,
                    gpointer         user_data)
{
  PmManager *self = user_data;
  CallerWatch *watch = g_hash_table_lookup (self->callers, name);
  g_autoptr(GPtrArray) procs = NULL;

  if (watch == NULL)
    return;

  g_debug ("Caller %s left the bus: stopping its %u processes", name, watch->processes->len);
  procs = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < watch->processes->len; i++)
    {
      PmProcess *process = g_ptr_array_index (watch->processes, i);

      if (!pm_process_get_removing (process))
        g_ptr_array_add (procs, g_object_ref (process));
    }
  g_hash_table_remove (self->callers, name);
  stop_and_forget (self, procs, batch_done_nothing, NULL);
}

static void
watch_caller (PmManager  *self,
              const char *caller,
              PmProcess  *process)
{
  CallerWatch *watch = g_hash_table_lookup (self->callers, caller);

  if (watch == NULL)
    {
      watch = g_new0 (CallerWatch, 1);
      watch->processes = g_ptr_array_new ();
      g_hash_table_insert (self->callers, g_strdup (caller), watch);
      /* If the caller is already gone, this reports it at once. */
      watch->watch_id = g_bus_watch_name_on_connection (self->connection, caller,
                                                        G_BUS_NAME_WATCHER_FLAGS_NONE,
                                                        NULL, on_caller_vanished,
                                                        self, NULL);
    }
  g_ptr_array_add (watch->processes, process);
  g_hash_table_insert (self->caller_of, process, g_strdup (caller));
}

/* ---- Start ------------------------------------------------------------ */

typedef struct
{
  PmManager             *self;
  GDBusMethodInvocation *invocation;
  PmOptions             *opts;
  guint                  uid;
} StartData;

/* The uid could not be had: the call was answered, the admission is undone. */
/* A Start waiting for its child to get ready. */
typedef struct
{
  PmManager             *self;       /* owns a reference */
  GDBusMethodInvocation *invocation;
  GError                *error;
} ReadyData;

static void
on_start_failed_forgotten (PmManager *self,
                           guint      count,
                           GError    *error,
                           gpointer   user_data)
{
  ReadyData *data = user_data;

  /* Only now: nothing of it is registered or running any more. */
  g_dbus_method_invocation_return_gerror (data->invocation, data->error);
  g_error_free (data->error);
  g_object_unref (data->self);
  g_free (data);
}

static void
on_start_ready (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  ReadyData *data = user_data;
  PmProcess *process = PM_PROCESS (source);
  g_autoptr(GPtrArray) procs = NULL;

  if (pm_process_wait_ready_finish (process, result, &data->error))
    {
      pm_dbus_process_manager_complete_start (PM_DBUS_PROCESS_MANAGER (data->self),
                                              data->invocation,
                                              pm_process_get_id (process));
      g_object_unref (data->self);
      g_free (data);
      return;
    }

  /* Stopped while starting (Stop, StopAll, replace, shutdown): already
   * forgotten, by whoever stopped it. */
  if (pm_process_get_removing (process))
    {
      on_start_failed_forgotten (data->self, 0, NULL, data);
      return;
    }

  /* As for SpawnFailed, nothing stays registered. */
  procs = g_ptr_array_new ();
  g_ptr_array_add (procs, process);
  stop_and_forget (data->self, procs, on_start_failed_forgotten, data);
}

static void
start_data_abort (gpointer user_data)
{
  StartData *data = user_data;

  data->self->starting--;
  pm_options_free (data->opts);
  g_free (data);
}

static void
start_now (PmManager *self,
           StartData *data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PmProcess) process = NULL;
  g_autoptr(PmCreds) creds = NULL;
  GDBusMethodInvocation *invocation = data->invocation;
  PmOptions *opts = g_steal_pointer (&data->opts);
  gboolean with_caller = opts->stop_with_caller;
  gboolean ready_now;
  guint uid = data->uid;
  guint id;

  g_free (data);
  self->starting--;

  if (self->shutting_down)
    {
      pm_options_free (opts);
      user_release (self, uid);
      g_dbus_method_invocation_return_error (invocation, PM_ERROR, PM_ERROR_FAILED,
                                             _("The daemon is shutting down"));
      return;
    }

  /* Before anything is opened: out of descriptors, nothing is half made. */
  if (!pm_spawn_check_descriptors (&error))
    {
      pm_options_free (opts);
      user_release (self, uid);
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }

  /* Read afresh at every start: group changes apply from the next one. */
  if (self->daemon_uid == 0 && uid != 0)
    {
      creds = pm_creds_lookup (uid, &error);
      if (creds == NULL)
        {
          pm_options_free (opts);
          user_release (self, uid);
          g_dbus_method_invocation_return_gerror (invocation, error);
          return;
        }
    }

  id = self->next_id++;
  process = pm_process_new (id, opts, uid, creds, PM_DBUS_PROCESS_MANAGER (self), &error);
  if (process == NULL || !pm_process_spawn (process, &error))
    {
      /* Nothing stays registered; the id is simply never used. */
      user_release (self, uid);
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }

  g_ptr_array_add (self->processes, g_object_ref (process));
  g_hash_table_insert (self->by_id, GUINT_TO_POINTER (id), process);
  pm_process_changed ();
  g_signal_connect_object (process, "handle-stop",
                           G_CALLBACK (on_process_handle_stop), self, 0);
  g_signal_connect_object (process, "handle-restart",
                           G_CALLBACK (on_process_handle_restart), self, 0);

  if (with_caller)
    watch_caller (self, g_dbus_method_invocation_get_sender (invocation), process);

  object_manager_add (self, process);

  /* Ready at once: the reply goes out before Started and Ready, so the
   * caller does not wait for two more messages to be built, written and
   * routed before its answer. */
  ready_now = pm_process_get_ready (process);
  if (ready_now)
    pm_dbus_process_manager_complete_start (PM_DBUS_PROCESS_MANAGER (self), invocation, id);
  pm_process_announce (process);

  if (!ready_now)
    {
      /* Exported meanwhile, in State "starting": it can be watched and
       * stopped (which makes this Start fail). */
      ReadyData *ready = g_new0 (ReadyData, 1);

      ready->self = g_object_ref (self);
      ready->invocation = invocation;
      pm_process_wait_ready_async (process, on_start_ready, ready);
    }
}

static void
on_replaced (PmManager *self,
             guint      count,
             GError    *error,
             gpointer   user_data)
{
  start_now (self, user_data);
}

static void
start_as (PmManager             *self,
          GDBusMethodInvocation *invocation,
          guint                  uid,
          gpointer               user_data)
{
  StartData *data = user_data;
  g_autoptr(GPtrArray) old = NULL;

  data->uid = uid;

  /* Not root, it cannot become anyone else: it would run the caller's
   * program as itself. */
  if (self->daemon_uid != 0 && uid != self->daemon_uid)
    {
      g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED,
                                             _("This daemon runs as user %u and starts "
                                               "processes only for that user, not for user %u"),
                                             (guint) self->daemon_uid, uid);
      start_data_abort (data);
      return;
    }

  /* replace: the caller's old set is gone before the new one starts, so
   * it does not count against the cap. */
  if (data->opts->replace && *data->opts->name != '\0')
    old = find_processes (self, data->opts->name, uid);

  if (is_other_user (self, uid) &&
      user_count (self, uid) - (old != NULL ? old->len : 0) >= self->max_per_user)
    {
      g_dbus_method_invocation_return_error (invocation, PM_ERROR, PM_ERROR_LIMIT_EXCEEDED,
                                             _("Too many processes of user %u (at most %u)"),
                                             uid, self->max_per_user);
      start_data_abort (data);
      return;
    }
  user_reserve (self, uid);

  if (old == NULL)
    start_now (self, data);
  else
    stop_and_forget (self, old, on_replaced, data);
}

static gboolean
pm_manager_handle_start (PmDBusProcessManager  *iface,
                         GDBusMethodInvocation *invocation,
                         GVariant              *options)
{
  PmManager *self = PM_MANAGER (iface);
  g_autoptr(GError) error = NULL;
  g_autoptr(PmOptions) opts = NULL;
  StartData *data;

  note_activity (PM_MANAGER (iface));

  opts = pm_options_parse (options, &error);
  if (opts == NULL)
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return TRUE;
    }

  if (opts->stop_with_caller && g_dbus_method_invocation_get_sender (invocation) == NULL)
    {
      g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR,
                                             G_DBUS_ERROR_INVALID_ARGS,
                                             _("Option “stopWithCaller” needs a message bus connection"));
      return TRUE;
    }

  if (self->processes->len + self->starting >= PM_MAX_PROCESSES)
    {
      g_dbus_method_invocation_return_error (invocation, PM_ERROR, PM_ERROR_LIMIT_EXCEEDED,
                                             _("Too many processes (at most %d)"),
                                             PM_MAX_PROCESSES);
      return TRUE;
    }

  data = g_new0 (StartData, 1);
  data->self = self;
  data->invocation = invocation;
  data->opts = g_steal_pointer (&opts);
  self->starting++;
  with_caller_uid (self, invocation, start_as, data, start_data_abort);
  return TRUE;
}

/* ---- the other methods ------------------------------------------------ */

static void
stop_as (PmManager             *self,
         GDBusMethodInvocation *invocation,
         guint                  uid,
         gpointer               data)
{
  g_autofree char *name = data;
  g_autoptr(GPtrArray) procs = find_processes (self, name, uid);

  if (procs->len == 0)
    {
      return_not_found (invocation, name);
      return;
    }
  stop_and_forget (self, procs, reply_count, invocation);
}

static gboolean
pm_manager_handle_stop (PmDBusProcessManager  *iface,
                        GDBusMethodInvocation *invocation,
                        const char            *name)
{
  note_activity (PM_MANAGER (iface));
  with_caller_uid (PM_MANAGER (iface), invocation, stop_as, g_strdup (name), g_free);
  return TRUE;
}

static void
restart_as (PmManager             *self,
            GDBusMethodInvocation *invocation,
            guint                  uid,
            gpointer               data)
{
  g_autofree char *name = data;
  g_autoptr(GPtrArray) procs = find_processes (self, name, uid);

  if (procs->len == 0)
    {
      return_not_found (invocation, name);
      return;
    }
  restart_all (self, procs, reply_count, invocation);
}

static gboolean
pm_manager_handle_restart (PmDBusProcessManager  *iface,
                           GDBusMethodInvocation *invocation,
                           const char            *name)
{
  note_activity (PM_MANAGER (iface));
  with_caller_uid (PM_MANAGER (iface), invocation, restart_as, g_strdup (name), g_free);
  return TRUE;
}

static void
stop_all_as (PmManager             *self,
             GDBusMethodInvocation *invocation,
             guint                  uid,
             gpointer               data)
{
  g_autoptr(GPtrArray) procs = find_processes (self, NULL, uid);

  stop_and_forget (self, procs, reply_count, invocation);
}

static gboolean
pm_manager_handle_stop_all (PmDBusProcessManager  *iface,
                            GDBusMethodInvocation *invocation)
{
  note_activity (PM_MANAGER (iface));
  with_caller_uid (PM_MANAGER (iface), invocation, stop_all_as, NULL, NULL);
  return TRUE;
}

static gboolean
pm_manager_handle_list (PmDBusProcessManager  *iface,
                        GDBusMethodInvocation *invocation)
{
  PmManager *self = PM_MANAGER (iface);

  note_activity (PM_MANAGER (iface));

  /* Ten thousand idle processes are asked about again and again: the last
   * answer stands until a process comes, goes or changes. */
  if (self->list_reply == NULL || self->list_generation != pm_process_get_generation ())
    {
      /* Built afresh, in one go: GDBus writes a message by walking the
       * value, and entries made one after the other lie together in memory
       * (an entry kept by each process since it last changed is cheaper to
       * rebuild from, but then each reply walks ten thousand scattered
       * ones). Not serialised: from serialised form GDBus creates a child
       * value for every field it writes. */
      g_autofree GVariant **entries = g_new (GVariant *, self->processes->len);

      for (guint i = 0; i < self->processes->len; i++)
        entries[i] = pm_process_new_list_entry (g_ptr_array_index (self->processes, i));
      g_clear_pointer (&self->list_reply, g_variant_unref);
      self->list_reply = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("(ususu)"),
                                                                 entries,
                                                                 self->processes->len));
      self->list_generation = pm_process_get_generation ();
    }
  pm_dbus_process_manager_complete_list (iface, invocation, self->list_reply);
  return TRUE;
}

static gboolean
pm_manager_handle_stats (PmDBusProcessManager  *iface,
                         GDBusMethodInvocation *invocation)
{
  PmManager *self = PM_MANAGER (iface);
  GVariantBuilder builder;

  note_activity (self);

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(uutt)"));
  for (guint i = 0; i < self->processes->len; i++)
    {
      PmDBusProcessManagerProcess *p = g_ptr_array_index (self->processes, i);
      guint pid = pm_dbus_process_manager_process_get_pid (p);
      guint64 cpu_usec, rss_bytes;

      /* Read at the call: nothing is sampled in between. */
      if (pid == 0 || !pm_procstat_read ((int) pid, &cpu_usec, &rss_bytes))
        continue;
      g_variant_builder_add (&builder, "(uutt)",
                             pm_dbus_process_manager_process_get_id (p),
                             pid, cpu_usec, rss_bytes);
    }
  pm_dbus_process_manager_complete_stats (iface, invocation,
                                          g_variant_builder_end (&builder));
  return TRUE;
}

static gboolean
pm_manager_handle_reopen_logs (PmDBusProcessManager  *iface,
                               GDBusMethodInvocation *invocation)
{
  g_autoptr(GError) error = NULL;

  note_activity (PM_MANAGER (iface));

  if (!pm_log_reopen_all (&error))
    g_dbus_method_invocation_return_gerror (invocation, error);
  else
    pm_dbus_process_manager_complete_reopen_logs (iface, invocation);
  return TRUE;
}

/* ---- life cycle ------------------------------------------------------- */

static void
on_shutdown_stopped (PmManager *self,
                     guint      count,
                     GError    *error,
                     gpointer   user_data)
{
  g_autoptr(GTask) task = user_data;

  pm_log_flush_all ();
  g_task_return_boolean (task, TRUE);
}

void
pm_manager_shutdown_async (PmManager          *self,
                           GAsyncReadyCallback callback,
                           gpointer            user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);
  g_autoptr(GPtrArray) procs = NULL;

  self->shutting_down = TRUE;
  /* Processes already being forgotten finish on their own; wait for all. */
  procs = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < self->processes->len; i++)
    g_ptr_array_add (procs, g_object_ref (g_ptr_array_index (self->processes, i)));
  stop_and_forget (self, procs, on_shutdown_stopped, task);
}

gboolean
pm_manager_shutdown_finish (PmManager    *self,
                            GAsyncResult *result,
                            GError      **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

gboolean
pm_manager_export (PmManager *self,
                   GError   **error)
{
  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self),
                                         self->connection, PM_DBUS_PATH, error))
    return FALSE;
  self->object_manager_id =
    g_dbus_connection_register_object (self->connection, PM_DBUS_PATH, object_manager_info (),
                                       &object_manager_vtable, self, NULL, error);
  if (self->object_manager_id == 0)
    {
      g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self));
      return FALSE;
    }
  return TRUE;
}

/* Takes the manager and every process off the bus, without signals: the
 * connection is going. */
void
pm_manager_unexport (PmManager *self)
{
  for (guint i = 0; i < self->processes->len; i++)
    {
      GDBusInterfaceSkeleton *skeleton = g_ptr_array_index (self->processes, i);

      if (g_dbus_interface_skeleton_get_connection (skeleton) != NULL)
        g_dbus_interface_skeleton_unexport (skeleton);
    }
  if (self->object_manager_id != 0)
    g_dbus_connection_unregister_object (self->connection, self->object_manager_id);
  self->object_manager_id = 0;
  if (g_dbus_interface_skeleton_get_connection (G_DBUS_INTERFACE_SKELETON (self)) != NULL)
    g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self));
}

void
pm_manager_set_max_per_user (PmManager *self,
                             guint      max)
{
  self->max_per_user = max;
}

PmManager *
pm_manager_new (GDBusConnection *connection)
{
  PmManager *self = g_object_new (PM_TYPE_MANAGER, NULL);

  self->connection = g_object_ref (connection);
  return self;
}

static void
pm_manager_dispose (GObject *object)
{
  PmManager *self = PM_MANAGER (object);

  g_clear_handle_id (&self->trim_timer, g_source_remove);
  g_clear_pointer (&self->caller_of, g_hash_table_unref);
  g_clear_pointer (&self->uids, g_hash_table_unref);
  g_clear_pointer (&self->per_user, g_hash_table_unref);
  g_clear_pointer (&self->callers, g_hash_table_unref);
  g_clear_pointer (&self->by_id, g_hash_table_unref);
  g_clear_pointer (&self->processes, g_ptr_array_unref);
  g_clear_pointer (&self->list_reply, g_variant_unref);
  g_clear_pointer (&self->objects_reply, g_variant_unref);
  g_clear_object (&self->connection);

  G_OBJECT_CLASS (pm_manager_parent_class)->dispose (object);
}

static void
pm_manager_class_init (PmManagerClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = pm_manager_dispose;
}

static void
pm_manager_iface_init (PmDBusProcessManagerIface *iface)
{
  iface->handle_start = pm_manager_handle_start;
  iface->handle_stop = pm_manager_handle_stop;
  iface->handle_restart = pm_manager_handle_restart;
  iface->handle_stop_all = pm_manager_handle_stop_all;
  iface->handle_list = pm_manager_handle_list;
  iface->handle_stats = pm_manager_handle_stats;
  iface->handle_reopen_logs = pm_manager_handle_reopen_logs;
}

static void
pm_manager_init (PmManager *self)
{
  self->next_id = 1;
  self->processes = g_ptr_array_new_with_free_func (g_object_unref);
  self->by_id = g_hash_table_new (NULL, NULL);
  self->callers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) caller_watch_free);
  self->caller_of = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  self->uids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                      (GDestroyNotify) caller_uid_free);
  self->per_user = g_hash_table_new (NULL, NULL);
  self->daemon_uid = geteuid ();
  self->max_per_user = PM_MAX_PROCESSES_PER_USER;
  g_signal_connect (self, "started", G_CALLBACK (on_started), NULL);
  pm_dbus_process_manager_set_version (PM_DBUS_PROCESS_MANAGER (self), PACKAGE_VERSION);
}
