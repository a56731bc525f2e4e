/* make-seeds.c — writes the seed corpora of the fuzzers (fuzz/corpus/).
 *
 * The seeds are committed; this program is how they were made, so that they
 * can be remade or extended rather than edited as binaries:
 *
 *   make-seeds options fuzz/corpus/options
 *   make-seeds lines fuzz/corpus/lines
 *
 * Option seeds are a{sv} in GVariant text format, serialized in normal form:
 * every key with its type, and one of each way to be rejected, so that the
 * fuzzer starts from both sides of every check. Line seeds follow the input
 * layout described in fuzz-lines.c.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "pm-lines.h"
#include "pm-options.h"

typedef struct
{
  const char *file;
  const char *text;
} OptionSeed;

static const OptionSeed option_seeds[] = {
  { "minimal", "{'script': <'/usr/bin/true'>}" },
  { "full",
    "{'script': <'app.js'>, 'name': <'web'>, 'args': <['--port', '8080', '']>,"
    " 'cwd': <'/srv/app'>, 'log': <'logs/web.log'>,"
    " 'env': <{'A': '1', 'PATH': '/bin:/usr/bin', 'E': ''}>, 'clearEnv': <true>,"
    " 'restart': <'on-failure'>, 'restartAt': <[uint32 100, 2000, 30000]>,"
    " 'restartOk': <uint32 5000>, 'stripANSI': <true>, 'timestamps': <true>,"
    " 'stopTimeout': <uint32 3000>, 'interpreter': <'/usr/bin/python3'>,"
    " 'stopWithCaller': <true>, 'replace': <false>}" },
  { "never-empty-restart-at",
    "{'script': <'run.py'>, 'restart': <'never'>, 'restartAt': <@au []>, 'log': <''>}" },
  { "env-key-with-equals", "{'script': <'x'>, 'env': <{'A=B': 'c'}>}" },
  { "env-key-empty", "{'script': <'x'>, 'env': <{'': 'c'}>}" },
  { "wrong-type", "{'script': <'x'>, 'stopTimeout': <int32 5>}" },
  { "unknown-key", "{'script': <'x'>, 'colour': <'red'>}" },
  { "duplicate-key", "{'script': <'x'>, 'script': <'y'>}" },
  { "stop-timeout-over", "{'script': <'x'>, 'stopTimeout': <uint32 3600001>}" },
  { "cwd-relative", "{'script': <'x'>, 'cwd': <'srv'>}" },
  { "name-control", "{'script': <'x'>, 'name': <'a\\u0001b'>}" },
  { "no-script", "{'name': <'web'>, 'args': <@as []>}" },
  { "restart-always", "{'script': <'s.mjs'>, 'restart': <'always'>, 'interpreter': <'/usr/bin/node'>}" },
};

static void
write_seed (const char   *dir,
            const char   *file,
            gconstpointer data,
            gsize         len)
{
  g_autofree char *path = g_build_filename (dir, file, NULL);
  g_autoptr(GError) error = NULL;

  if (!g_file_set_contents (path, data, (gssize) len, &error))
    g_error ("%s", error->message);
}

static void
write_variant (const char *dir,
               const char *file,
               GVariant   *v)
{
  g_autoptr(GVariant) normal = g_variant_get_normal_form (v);

  write_seed (dir, file, g_variant_get_data (normal), g_variant_get_size (normal));
}

static void
make_option_seeds (const char *dir)
{
  g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autofree char *long_name = g_strnfill (PM_MAX_NAME + 1, 'n');
  g_autofree char *long_path = g_strnfill (PM_MAX_PATH + 1, 'p');
  g_autofree guint32 *steps = g_new0 (guint32, PM_MAX_RESTART_AT + 1);
  g_autoptr(GVariant) v = NULL;

  for (gsize i = 0; i < G_N_ELEMENTS (option_seeds); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) parsed = g_variant_parse (G_VARIANT_TYPE_VARDICT,
                                                    option_seeds[i].text,
                                                    NULL, NULL, &error);

      if (parsed == NULL)
        g_error ("%s: %s", option_seeds[i].file, error->message);
      write_variant (dir, option_seeds[i].file, parsed);
    }

  /* One past a limit, which the text format would make unreadable. The
   * limits on args, env and their size need 30 KB to 1 MB of input: those
   * are left to the unit tests rather than slow every run down. */
  g_variant_builder_add (&b, "{sv}", "script", g_variant_new_string ("x"));
  g_variant_builder_add (&b, "{sv}", "name", g_variant_new_string (long_name));
  v = g_variant_ref_sink (g_variant_builder_end (&b));
  write_variant (dir, "name-too-long", v);
  g_clear_pointer (&v, g_variant_unref);

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "script", g_variant_new_string (long_path));
  v = g_variant_ref_sink (g_variant_builder_end (&b));
  write_variant (dir, "script-too-long", v);
  g_clear_pointer (&v, g_variant_unref);

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "script", g_variant_new_string ("x"));
  g_variant_builder_add (&b, "{sv}", "restartAt",
                         g_variant_new_fixed_array (G_VARIANT_TYPE_UINT32, steps,
                                                    PM_MAX_RESTART_AT + 1, sizeof (guint32)));
  v = g_variant_ref_sink (g_variant_builder_end (&b));
  write_variant (dir, "restart-at-too-many", v);
}

/* Header of a line seed: flags, then the 4-byte seed of the cuts. */
#define STRIP  0x01
#define EXPAND 0x02
#define TINY   0x00
#define SMALL  0x04
#define NEAR   0x08
#define MIXED  0x0c
#define CLEAR  0x10

typedef struct
{
  const char *file;
  guint8      flags;
  const char *data;
  gsize       len;
} LineSeed;

#define LINE_SEED(file, flags, s) { file, flags, s, sizeof (s) - 1 }

/* 0xff H L C: a run of C; H = 0xff means PM_LINE_MAX - 128 + L copies, so
 * 0xff 0xff 0x80 C is exactly PM_LINE_MAX of them. */
static const LineSeed line_seeds[] = {
  LINE_SEED ("plain", TINY, "hello\nworld\r\n\r\n\n\rlast"),
  LINE_SEED ("plain-mixed", MIXED, "a\r\r\nb\n\r\n\rc\r"),
  LINE_SEED ("ansi-colours", STRIP | SMALL,
             "\x1b[1;31mred\x1b[0m\n\x1b[38;5;208mx\x1b[m\r\n\x1b(Bok\x1b" "7\x1b=\n"),
  LINE_SEED ("ansi-strings", STRIP | TINY,
             "\x1b]0;title\x07text\n\x1bPq#0\x1b\\dcs\n\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\n"
             "\x1b_apc\x1b\\\x1b^pm\x1b\\\x1bXsos\x1b\\end\n"),
  LINE_SEED ("ansi-broken", STRIP | MIXED,
             "a\x1b[12\x18" "b\x1b]x\x1a" "c\n\x1b[1\x01" "d\x1b[\n\x1b#\xc3\xa9\n\x1b\x1b[mtail\x1b["),
  LINE_SEED ("long-exact-crlf", EXPAND | NEAR, "\xff\xff\x80x\r\n\xff\xff\x80y\n"),
  LINE_SEED ("long-held-cr", EXPAND | NEAR, "\xff\xff\x80z\r"),
  LINE_SEED ("long-cr-then-text", EXPAND | MIXED, "\xff\xff\x80z\rq\n\xff\xff\x81w"),
  LINE_SEED ("long-three-pieces", EXPAND | SMALL, "\xff\x00\x10" "a\xff\xff\xff" "b\xff\xff\x82" "c\n"),
  LINE_SEED ("long-cleared", EXPAND | NEAR | CLEAR, "a\n\xff\xff\x80z\r"),
  LINE_SEED ("long-ansi", STRIP | EXPAND | MIXED, "\x1b[31m\xff\xff\x80r\x1b[0m\r\n\x1b]0;\xff\xff\x80t\x07\n"),
};

static void
make_line_seeds (const char *dir)
{
  for (gsize i = 0; i < G_N_ELEMENTS (line_seeds); i++)
    {
      const LineSeed *s = &line_seeds[i];
      g_autoptr(GByteArray) bytes = g_byte_array_new ();
      /* A fixed, different seed per file. */
      guint8 header[5] = { s->flags, (guint8) (i + 1), 0x5a, 0xa5, 0x3c };

      g_byte_array_append (bytes, header, sizeof header);
      g_byte_array_append (bytes, (const guint8 *) s->data, (guint) s->len);
      write_seed (dir, s->file, bytes->data, bytes->len);
    }
}

int
main (int   argc,
      char *argv[])
{
  if (argc != 3 || g_mkdir_with_parents (argv[2], 0755) != 0)
    {
      g_printerr ("Usage: %s options|lines DIRECTORY\n", argv[0]);
      return EXIT_FAILURE;
    }
  if (g_str_equal (argv[1], "options"))
    make_option_seeds (argv[2]);
  else if (g_str_equal (argv[1], "lines"))
    make_line_seeds (argv[2]);
  else
    {
      g_printerr ("Usage: %s options|lines DIRECTORY\n", argv[0]);
      return EXIT_FAILURE;
    }
  return EXIT_SUCCESS;
}
