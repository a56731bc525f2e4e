/* test-procstat.c — the /proc text behind Stats, table-driven, and one read
 * of our own process checked against /proc/self. */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "pm-procstat.h"

typedef struct
{
  const char *name;
  const char *text;
  gboolean    ok;
  guint64     ticks;
} StatCase;

static const StatCase stat_cases[] = {
  { "plain",
    "1234 (sleep) S 1 1234 1234 0 -1 4194304 100 0 0 0 7 3 0 0 20 0 1 0 55 1000 200 "
    "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n", TRUE, 10 },
  { "comm-with-spaces-and-parens",
    "42 (a) b) (c d) R 1 42 42 0 -1 0 0 0 0 0 1500 250 0 0 20 0 1 0 9 0 0\n", TRUE, 1750 },
  { "comm-with-digits",
    "7 (1 2 3 4 5 6 7 8 9 10 11 12 13) S 1 7 7 0 -1 0 0 0 0 0 4 5 0 0\n", TRUE, 9 },
  { "big-values",
    "9 (x) S 1 9 9 0 -1 0 0 0 0 0 4294967296 4294967296 0 0\n", TRUE, 8589934592ULL },
  { "no-paren", "1234 sleep S 1 1234", FALSE, 0 },
  { "truncated", "1234 (sleep) S 1 1234 1234 0 -1 4194304 100 0 0 0 7", FALSE, 0 },
  { "not-a-number", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 7a 3 0 0\n", FALSE, 0 },
  { "negative", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 -7 3 0 0\n", FALSE, 0 },
  { "empty", "", FALSE, 0 },
};

static void
test_stat (gconstpointer data)
{
  const StatCase *c = data;
  guint64 ticks = 12345;

  g_assert_cmpint (pm_procstat_parse_cpu_ticks (c->text, &ticks), ==, c->ok);
  if (c->ok)
    g_assert_cmpuint (ticks, ==, c->ticks);
}

typedef struct
{
  const char *name;
  const char *text;
  gboolean    ok;
  guint64     pages;
} StatmCase;

static const StatmCase statm_cases[] = {
  { "plain", "2203 213 190 7 0 85 0\n", TRUE, 213 },
  { "zero", "0 0 0 0 0 0 0\n", TRUE, 0 },
  { "one-field", "2203\n", FALSE, 0 },
  { "garbage", "x y z\n", FALSE, 0 },
  { "empty", "", FALSE, 0 },
};

static void
test_statm (gconstpointer data)
{
  const StatmCase *c = data;
  guint64 pages = 12345;

  g_assert_cmpint (pm_procstat_parse_rss_pages (c->text, &pages), ==, c->ok);
  if (c->ok)
    g_assert_cmpuint (pages, ==, c->pages);
}

static void
test_ticks_to_usec (void)
{
  g_assert_cmpuint (pm_procstat_ticks_to_usec (0, 100), ==, 0);
  g_assert_cmpuint (pm_procstat_ticks_to_usec (1, 100), ==, 10000);
  g_assert_cmpuint (pm_procstat_ticks_to_usec (250, 100), ==, 2500000);
  g_assert_cmpuint (pm_procstat_ticks_to_usec (1, 300), ==, 3333);
  g_assert_cmpuint (pm_procstat_ticks_to_usec (1, 0), ==, 0);
  /* Large enough that ticks * 10^6 would overflow 64 bits. */
  g_assert_cmpuint (pm_procstat_ticks_to_usec (G_GUINT64_CONSTANT (1) << 50, 1024), ==,
                    (G_GUINT64_CONSTANT (1) << 40) * G_USEC_PER_SEC);
}

static void
test_read_self (void)
{
  guint64 cpu = 0, rss = 0;
  g_autofree char *statm = NULL;
  guint64 pages;
  volatile guint64 spin = 0;

  /* Burn a little CPU so the figure is not trivially 0 forever; only its
   * bounds are checked, never a duration. */
  for (guint64 i = 0; i < 20000000; i++)
    spin += i;

  g_assert_true (pm_procstat_read ((int) getpid (), &cpu, &rss));
  g_assert_true (g_file_get_contents ("/proc/self/statm", &statm, NULL, NULL));
  g_assert_true (pm_procstat_parse_rss_pages (statm, &pages));
  g_assert_cmpuint (rss, >, 0);
  g_assert_cmpuint (rss % (guint64) sysconf (_SC_PAGESIZE), ==, 0);
  /* Within a factor of the value read a moment later. */
  g_assert_cmpuint (rss, <=, 4 * pages * (guint64) sysconf (_SC_PAGESIZE));
  g_assert_false (pm_procstat_read (-1, &cpu, &rss));
}

static void
test_read_file (void)
{
  char buf[4096];
  char tiny[8];
  g_autofree char *expected = g_strdup_printf ("%d (", (int) getpid ());
  gssize n = pm_procstat_read_file ("/proc/self/stat", buf, sizeof buf);

  g_assert_cmpint (n, >, 0);
  g_assert_cmpuint (strlen (buf), ==, (gsize) n);
  g_assert_true (g_str_has_prefix (buf, expected));
  /* Cut to the buffer, still terminated. */
  g_assert_cmpint (pm_procstat_read_file ("/proc/self/stat", tiny, sizeof tiny), ==,
                   (gssize) sizeof tiny - 1);
  g_assert_cmpuint (strlen (tiny), ==, sizeof tiny - 1);
  g_assert_cmpint (pm_procstat_read_file ("/proc/self/no-such-file", buf, sizeof buf), ==, -1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (stat_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/procstat/stat/%s", stat_cases[i].name);
      g_test_add_data_func (path, &stat_cases[i], test_stat);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (statm_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/procstat/statm/%s", statm_cases[i].name);
      g_test_add_data_func (path, &statm_cases[i], test_statm);
    }
  g_test_add_func ("/procstat/ticks-to-usec", test_ticks_to_usec);
  g_test_add_func ("/procstat/read-self", test_read_self);
  g_test_add_func ("/procstat/read-file", test_read_file);
  return g_test_run ();
}
