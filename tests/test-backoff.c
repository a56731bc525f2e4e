/* test-backoff.c — the restart schedule, table-driven. */
#include "config.h"

#include <glib.h>

#include "pm-backoff.h"

static const guint32 default_at[] = { 100, 500, 1000, 10000, 30000, 60000, 300000, 900000 };

typedef struct
{
  const char    *name;
  const guint32 *at;
  gsize          n_at;
  guint32        restart_ok;
  /* uptimes of successive crashes, and the delays expected (0 = no restart) */
  guint64        uptime[12];
  gint64         expect[12];
  gsize          n;
} ScheduleCase;

static const guint32 zero[] = { 0 };
static const guint32 zero_then_100[] = { 0, 100 };
static const guint32 one[] = { 20 };

static const ScheduleCase schedule_cases[] = {
  { "default", default_at, G_N_ELEMENTS (default_at), 1800000,
    { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
    { 100, 500, 1000, 10000, 30000, 60000, 300000, 900000, 900000, 900000 }, 10 },
  { "restart-ok-resets", default_at, G_N_ELEMENTS (default_at), 1000,
    { 0, 0, 0, 1000, 0, 999, 5000 },
    { 100, 500, 1000, 100, 500, 1000, 100 }, 7 },
  { "empty-never", NULL, 0, 1000, { 0, 0, 5000 }, { -1, -1, -1 }, 3 },
  { "zero-never", zero, 1, 1000, { 0, 0, 5000 }, { -1, -1, -1 }, 3 },
  { "zero-then-100", zero_then_100, 2, 1000, { 0, 0, 0, 2000, 0 }, { 0, 100, 100, 0, 100 }, 5 },
  { "single-repeats", one, 1, 1000, { 0, 0, 0, 0 }, { 20, 20, 20, 20 }, 4 },
};

static void
test_schedule (gconstpointer data)
{
  const ScheduleCase *c = data;
  PmBackoff backoff;

  pm_backoff_reset (&backoff);
  for (gsize i = 0; i < c->n; i++)
    {
      guint32 delay = 12345;
      gboolean due = pm_backoff_next (&backoff, c->at, c->n_at, c->restart_ok,
                                      c->uptime[i], &delay);

      if (c->expect[i] < 0)
        g_assert_false (due);
      else
        {
          g_assert_true (due);
          g_assert_cmpuint (delay, ==, (guint32) c->expect[i]);
        }
    }
}

static void
test_reset (void)
{
  PmBackoff backoff;
  guint32 delay;

  pm_backoff_reset (&backoff);
  for (int i = 0; i < 5; i++)
    g_assert_true (pm_backoff_next (&backoff, default_at, G_N_ELEMENTS (default_at), 1800000, 0, &delay));
  g_assert_cmpuint (delay, ==, 30000);
  pm_backoff_reset (&backoff);
  g_assert_true (pm_backoff_next (&backoff, default_at, G_N_ELEMENTS (default_at), 1800000, 0, &delay));
  g_assert_cmpuint (delay, ==, 100);
}

static void
test_index_saturates (void)
{
  PmBackoff backoff;
  guint32 delay = 0;

  pm_backoff_reset (&backoff);
  for (int i = 0; i < 100000; i++)
    g_assert_true (pm_backoff_next (&backoff, zero_then_100, 2, G_MAXUINT32, 0, &delay));
  g_assert_cmpuint (delay, ==, 100);
  g_assert_cmpuint (backoff.next, <=, 2);
}

static void
test_policy (void)
{
  g_assert_true (pm_restart_policy_wants (PM_RESTART_ALWAYS, 0, 0));
  g_assert_true (pm_restart_policy_wants (PM_RESTART_ALWAYS, 1, 0));
  g_assert_true (pm_restart_policy_wants (PM_RESTART_ALWAYS, -1, 9));
  g_assert_false (pm_restart_policy_wants (PM_RESTART_ON_FAILURE, 0, 0));
  g_assert_true (pm_restart_policy_wants (PM_RESTART_ON_FAILURE, 1, 0));
  g_assert_true (pm_restart_policy_wants (PM_RESTART_ON_FAILURE, -1, 15));
  g_assert_false (pm_restart_policy_wants (PM_RESTART_NEVER, 1, 0));
  g_assert_false (pm_restart_policy_wants (PM_RESTART_NEVER, -1, 9));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (schedule_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/backoff/schedule/%s", schedule_cases[i].name);
      g_test_add_data_func (path, &schedule_cases[i], test_schedule);
    }
  g_test_add_func ("/backoff/reset", test_reset);
  g_test_add_func ("/backoff/index-saturates", test_index_saturates);
  g_test_add_func ("/backoff/policy", test_policy);
  return g_test_run ();
}
