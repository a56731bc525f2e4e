/* pm-cli-format.c — the pure half of `elife-pm` (see pm-cli-format.h).
 *
 * Error messages here end up on the user's terminal as one line after
 * "elife-pm: ", so each names exactly what was wrong and where.
 */
#include "config.h"

#include <string.h>

#include <gio/gio.h>
#include <glib/gi18n.h>

#include "pm-cli-format.h"

/* ---- human units -------------------------------------------------------- */

char *
pm_cli_format_duration (guint64 usec)
{
  guint64 s = usec / G_USEC_PER_SEC;

  if (s < 60)
    return g_strdup_printf ("%" G_GUINT64_FORMAT "s", s);
  if (s < 3600)
    return g_strdup_printf ("%" G_GUINT64_FORMAT "m%02" G_GUINT64_FORMAT "s", s / 60, s % 60);
  if (s < 86400)
    return g_strdup_printf ("%" G_GUINT64_FORMAT "h%02" G_GUINT64_FORMAT "m",
                            s / 3600, s % 3600 / 60);
  return g_strdup_printf ("%" G_GUINT64_FORMAT "d%02" G_GUINT64_FORMAT "h",
                          s / 86400, s % 86400 / 3600);
}

char *
pm_cli_format_cpu (guint64 cpu_usec,
                   guint64 elapsed_usec)
{
  /* Tenths of a percent, rounded, in integers: no locale decimal comma. */
  guint64 tenths = elapsed_usec == 0 ? 0 : (cpu_usec * 1000 + elapsed_usec / 2) / elapsed_usec;

  return g_strdup_printf ("%" G_GUINT64_FORMAT ".%" G_GUINT64_FORMAT "%%", tenths / 10, tenths % 10);
}

char *
pm_cli_format_bytes (guint64 bytes)
{
  static const char units[] = "KMGTPE";
  guint64 scale = 1024;
  guint i = 0;

  if (bytes < 1024)
    return g_strdup_printf ("%" G_GUINT64_FORMAT "B", bytes);
  while (i + 1 < sizeof units - 1 && bytes >= scale * 1024 - scale / 20)
    {
      scale *= 1024;
      i++;
    }
  {
    guint64 tenths = (bytes * 10 + scale / 2) / scale;

    if (bytes > G_MAXUINT64 / 10)
      tenths = bytes / (scale / 10);
    return g_strdup_printf ("%" G_GUINT64_FORMAT ".%" G_GUINT64_FORMAT "%c",
                            tenths / 10, tenths % 10, units[i]);
  }
}

/* ---- values --------------------------------------------------------------- */

gboolean
pm_cli_parse_target (const char *target,
                     guint32    *id)
{
  guint64 v;

  if (*target == '\0')
    return FALSE;
  for (const char *p = target; *p; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;
  if (strlen (target) > 10 || (v = g_ascii_strtoull (target, NULL, 10)) > G_MAXUINT32)
    v = 0;
  *id = (guint32) v;
  return TRUE;
}

gboolean
pm_cli_parse_uint (const char *text,
                   guint64     max,
                   const char *what,
                   guint64    *out,
                   GError    **error)
{
  guint64 v;
  g_autoptr(GError) local = NULL;

  if (!g_ascii_string_to_unsigned (text, 10, 0, max, &v, &local))
    {
      if (g_error_matches (local, G_NUMBER_PARSER_ERROR, G_NUMBER_PARSER_ERROR_OUT_OF_BOUNDS))
        {
          /* Numbers as strings: a G_GUINT64_FORMAT would hide the string from xgettext. */
          g_autofree char *max_s = g_strdup_printf ("%" G_GUINT64_FORMAT, max);
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       _("%s: “%s” is larger than %s"), what, text, max_s);
        }
      else
        g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                     _("%s: “%s” is not a number"), what, text);
      return FALSE;
    }
  *out = v;
  return TRUE;
}

GVariant *
pm_cli_parse_ms_list (const char * const *items,
                      const char         *what,
                      GError            **error)
{
  g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("au"));

  for (; *items; items++)
    {
      g_autofree char *item = g_strstrip (g_strdup (*items));
      guint64 v;

      if (*item == '\0')
        continue;
      if (!pm_cli_parse_uint (item, G_MAXUINT32, what, &v, error))
        return NULL;
      g_variant_builder_add (&b, "u", (guint32) v);
    }
  return g_variant_builder_end (&b);
}

GVariant *
pm_cli_parse_env (const char * const *items,
                  const char         *what,
                  GError            **error)
{
  g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("a{ss}"));

  for (; *items; items++)
    {
      const char *eq = strchr (*items, '=');
      g_autofree char *key = NULL;

      if (eq == NULL || eq == *items)
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       _("%s: “%s” is not of the form KEY=VALUE"), what, *items);
          return NULL;
        }
      key = g_strndup (*items, eq - *items);
      g_variant_builder_add (&b, "{ss}", key, eq + 1);
    }
  return g_variant_builder_end (&b);
}

/* ---- the Start options ---------------------------------------------------- */

static const PmCliOption options[] = {
  { "script",          "s",     TRUE },
  { "args",            "as",    FALSE },
  { "cwd",             "s",     TRUE },
  { "log",             "s",     TRUE },
  { "env",             "a{ss}", FALSE },
  { "clearEnv",        "b",     FALSE },
  { "restart",         "s",     FALSE },
  { "restartAt",       "au",    FALSE },
  { "restartOk",       "u",     FALSE },
  { "stripANSI",       "b",     FALSE },
  { "timestamps",      "b",     FALSE },
  { "stopTimeout",     "u",     FALSE },
  { "interpreter",     "s",     TRUE },
  { "ready",           "s",     FALSE },
  { "readyPattern",    "s",     FALSE },
  { "startTimeout",    "u",     FALSE },
  { "watchdogTimeout", "u",     FALSE },
  { "logMaxBytes",     "t",     FALSE },
  { "logBackups",      "u",     FALSE },
};

const PmCliOption *
pm_cli_options (gsize *n)
{
  *n = G_N_ELEMENTS (options);
  return options;
}

const PmCliOption *
pm_cli_option_find (const char *key)
{
  for (gsize i = 0; i < G_N_ELEMENTS (options); i++)
    if (g_str_equal (options[i].key, key))
      return &options[i];
  return NULL;
}

/* ---- apply: key file → Start options -------------------------------------- */

static gboolean
key_error (GError    **error,
           const char *group,
           const char *key,
           const char *what)
{
  g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
               _("[%s] %s: %s"), group, key, what);
  return FALSE;
}

/* An interpreter without '/' is looked up on PATH, not in the directory. */
static char *
resolve_path (const PmCliOption *opt,
              const char        *value,
              const char        *base_dir)
{
  if (g_path_is_absolute (value) ||
      (g_str_equal (opt->key, "interpreter") && strchr (value, '/') == NULL))
    return g_strdup (value);
  return g_canonicalize_filename (value, base_dir);
}

static GVariant *
key_value (GKeyFile          *kf,
           const char        *group,
           const PmCliOption *opt,
           const char        *base_dir,
           GError           **error)
{
  g_autoptr(GError) local = NULL;
  g_autofree char *raw = g_key_file_get_value (kf, group, opt->key, NULL);
  GVariant *v = NULL;

  switch (opt->type[0])
    {
    case 's':
      {
        g_autofree char *s = g_key_file_get_string (kf, group, opt->key, &local);

        if (s == NULL)
          break;
        if (*s == '\0')
          {
            key_error (error, group, opt->key, _("must not be empty"));
            return NULL;
          }
        if (opt->is_path)
          {
            g_autofree char *abs = resolve_path (opt, s, base_dir);
            return g_variant_new_string (abs);
          }
        return g_variant_new_string (s);
      }
    case 'b':
      {
        gboolean b = g_key_file_get_boolean (kf, group, opt->key, &local);

        if (local == NULL)
          return g_variant_new_boolean (b);
        g_clear_error (&local);
        {
          g_autofree char *what = g_strdup_printf (_("“%s” is not true or false"), raw);
          key_error (error, group, opt->key, what);
        }
        return NULL;
      }
    case 'u':
    case 't':
      {
        guint64 n;
        g_autofree char *s = g_strstrip (g_strdup (raw));

        if (!pm_cli_parse_uint (s, opt->type[0] == 'u' ? G_MAXUINT32 : G_MAXUINT64,
                                opt->key, &n, &local))
          {
            g_autofree char *max_s = g_strdup_printf ("%" G_GUINT64_FORMAT,
                                                      opt->type[0] == 'u' ? (guint64) G_MAXUINT32 : G_MAXUINT64);
            g_autofree char *what = g_strdup_printf (_("“%s” is not a number (0 to %s)"), s, max_s);
            key_error (error, group, opt->key, what);
            return NULL;
          }
        return opt->type[0] == 'u' ? g_variant_new_uint32 ((guint32) n) : g_variant_new_uint64 (n);
      }
    case 'a':
      {
        g_auto(GStrv) list = g_key_file_get_string_list (kf, group, opt->key, NULL, &local);

        if (list == NULL)
          break;
        if (g_str_equal (opt->type, "as"))
          return g_variant_new_strv ((const char * const *) list, -1);
        if (g_str_equal (opt->type, "au"))
          v = pm_cli_parse_ms_list ((const char * const *) list, opt->key, &local);
        else
          v = pm_cli_parse_env ((const char * const *) list, opt->key, &local);
        if (v == NULL)
          {
            /* The message already starts with the key: add the group. */
            g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                         "[%s] %s", group, local->message);
            return NULL;
          }
        return v;
      }
    default:
      g_assert_not_reached ();
    }

  key_error (error, group, opt->key, local ? local->message : _("invalid value"));
  return NULL;
}

static GVariant *
group_to_options (GKeyFile   *kf,
                  const char *group,
                  const char *base_dir,
                  GError    **error)
{
  g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_auto(GStrv) keys = g_key_file_get_keys (kf, group, NULL, NULL);
  gboolean has_script = FALSE, has_cwd = FALSE;

  if (*group == '\0')
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   _("[] a group needs a name: it is the process’s name"));
      return NULL;
    }

  for (char **k = keys; k && *k; k++)
    {
      const PmCliOption *opt = pm_cli_option_find (*k);
      GVariant *v;

      if (g_str_equal (*k, "name") || g_str_equal (*k, "replace") ||
          g_str_equal (*k, "stopWithCaller"))
        {
          key_error (error, group, *k,
                     g_str_equal (*k, "name")
                       ? _("not allowed: the group’s name is the process’s name")
                       : _("not allowed in a file for apply"));
          return NULL;
        }
      if (opt == NULL)
        {
          key_error (error, group, *k, _("unknown key"));
          return NULL;
        }
      v = key_value (kf, group, opt, base_dir, error);
      if (v == NULL)
        return NULL;
      g_variant_builder_add (&b, "{sv}", opt->key, v);
      has_script |= g_str_equal (opt->key, "script");
      has_cwd |= g_str_equal (opt->key, "cwd");
    }

  if (!has_script)
    {
      key_error (error, group, "script", _("missing (the program to run)"));
      return NULL;
    }
  if (!has_cwd)
    g_variant_builder_add (&b, "{sv}", "cwd", g_variant_new_string (base_dir));
  g_variant_builder_add (&b, "{sv}", "name", g_variant_new_string (group));
  g_variant_builder_add (&b, "{sv}", "replace", g_variant_new_boolean (TRUE));
  return g_variant_builder_end (&b);
}

GPtrArray *
pm_cli_keyfile_to_options (GKeyFile   *keyfile,
                           const char *base_dir,
                           GError    **error)
{
  g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  g_auto(GStrv) groups = g_key_file_get_groups (keyfile, NULL);

  for (char **g = groups; *g; g++)
    {
      GVariant *opts = group_to_options (keyfile, *g, base_dir, error);

      if (opts == NULL)
        return NULL;
      g_ptr_array_add (all, g_variant_ref_sink (opts));
    }
  if (all->len == 0)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
                   _("no [NAME] group: nothing to start"));
      return NULL;
    }
  return g_steal_pointer (&all);
}

/* ---- logs ------------------------------------------------------------------ */

/* "2026-11-27T18:04:05.123+01:00 " as the daemon writes it: digits and
 * - T : . + Z, at least 19 characters, date and time separators in place. */
static gsize
stamp_length (const char *line,
              gsize       len)
{
  gsize i = 0;

  while (i < len && (g_ascii_isdigit (line[i]) || strchr ("-T:.+Z", line[i]) != NULL) &&
         line[i] != '\0')
    i++;
  if (i < 19 || i >= len || line[i] != ' ' || line[4] != '-' || line[10] != 'T')
    return 0;
  return i + 1;
}

gboolean
pm_cli_log_line_is_of (const char *line,
                       gsize       len,
                       const char *name)
{
  gsize name_len = strlen (name);
  gsize skip;

  if (name_len == 0)
    return TRUE;
  for (int pass = 0; pass < 2; pass++)
    {
      skip = pass == 0 ? 0 : stamp_length (line, len);
      if (pass == 1 && skip == 0)
        break;
      if (len - skip >= name_len + 2 && memcmp (line + skip, name, name_len) == 0 &&
          line[skip + name_len] == ':' && line[skip + name_len + 1] == ' ')
        return TRUE;
    }
  return FALSE;
}

GPtrArray *
pm_cli_last_lines (const char *buf,
                   gsize       len,
                   gboolean    at_start,
                   const char *name,
                   guint       n)
{
  GPtrArray *lines = g_ptr_array_new_with_free_func (g_free);
  const char *end = buf + len;

  /* Drop the unfinished last line, then walk back line by line. */
  while (end > buf && end[-1] != '\n')
    end--;
  while (end > buf && lines->len < n)
    {
      const char *line_end = end - 1;          /* at the '\n' */
      const char *start = line_end;

      while (start > buf && start[-1] != '\n')
        start--;
      if (start == buf && !at_start)
        break;                                 /* may be cut: not ours to show */
      if (pm_cli_log_line_is_of (start, line_end - start, name))
        g_ptr_array_insert (lines, 0, g_strndup (start, line_end - start));
      end = start;
    }
  return lines;
}

/* ---- JSON ---------------------------------------------------------------- */

void
pm_cli_json_append_string (GString    *out,
                           const char *s)
{
  g_string_append_c (out, '"');
  for (const guchar *p = (const guchar *) s; *p; p++)
    {
      switch (*p)
        {
        case '"':  g_string_append (out, "\\\""); break;
        case '\\': g_string_append (out, "\\\\"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        case '\t': g_string_append (out, "\\t"); break;
        default:
          if (*p < 0x20 || *p == 0x7f)
            g_string_append_printf (out, "\\u%04x", *p);
          else
            g_string_append_c (out, (char) *p);
        }
    }
  g_string_append_c (out, '"');
}

void
pm_cli_json_append_variant (GString  *out,
                            GVariant *value)
{
  const GVariantType *type = g_variant_get_type (value);

  if (g_variant_type_is_variant (type))
    {
      g_autoptr(GVariant) inner = g_variant_get_variant (value);
      pm_cli_json_append_variant (out, inner);
      return;
    }
  if (g_variant_type_is_dict_entry (type) || g_variant_type_is_tuple (type) ||
      g_variant_type_is_array (type))
    {
      gboolean object = g_variant_type_is_array (type) &&
                        g_variant_type_is_dict_entry (g_variant_type_element (type)) &&
                        g_variant_type_equal (g_variant_type_key (g_variant_type_element (type)),
                                              G_VARIANT_TYPE_STRING);
      gsize n = g_variant_n_children (value);

      g_string_append_c (out, object ? '{' : '[');
      for (gsize i = 0; i < n; i++)
        {
          g_autoptr(GVariant) child = g_variant_get_child_value (value, i);

          if (i > 0)
            g_string_append_c (out, ',');
          if (object)
            {
              g_autoptr(GVariant) k = g_variant_get_child_value (child, 0);
              g_autoptr(GVariant) v = g_variant_get_child_value (child, 1);

              pm_cli_json_append_string (out, g_variant_get_string (k, NULL));
              g_string_append_c (out, ':');
              pm_cli_json_append_variant (out, v);
            }
          else
            pm_cli_json_append_variant (out, child);
        }
      g_string_append_c (out, object ? '}' : ']');
      return;
    }

  switch (g_variant_classify (value))
    {
    case G_VARIANT_CLASS_BOOLEAN:
      g_string_append (out, g_variant_get_boolean (value) ? "true" : "false");
      break;
    case G_VARIANT_CLASS_BYTE:
      g_string_append_printf (out, "%u", g_variant_get_byte (value));
      break;
    case G_VARIANT_CLASS_INT16:
      g_string_append_printf (out, "%d", g_variant_get_int16 (value));
      break;
    case G_VARIANT_CLASS_UINT16:
      g_string_append_printf (out, "%u", g_variant_get_uint16 (value));
      break;
    case G_VARIANT_CLASS_INT32:
      g_string_append_printf (out, "%d", g_variant_get_int32 (value));
      break;
    case G_VARIANT_CLASS_UINT32:
      g_string_append_printf (out, "%u", g_variant_get_uint32 (value));
      break;
    case G_VARIANT_CLASS_INT64:
      g_string_append_printf (out, "%" G_GINT64_FORMAT, g_variant_get_int64 (value));
      break;
    case G_VARIANT_CLASS_UINT64:
      g_string_append_printf (out, "%" G_GUINT64_FORMAT, g_variant_get_uint64 (value));
      break;
    case G_VARIANT_CLASS_DOUBLE:
      {
        char buf[G_ASCII_DTOSTR_BUF_SIZE];
        g_string_append (out, g_ascii_dtostr (buf, sizeof buf, g_variant_get_double (value)));
      }
      break;
    case G_VARIANT_CLASS_STRING:
    case G_VARIANT_CLASS_OBJECT_PATH:
    case G_VARIANT_CLASS_SIGNATURE:
      pm_cli_json_append_string (out, g_variant_get_string (value, NULL));
      break;
    default:
      g_string_append (out, "null");
      break;
    }
}

char *
pm_cli_json_key (const char *property)
{
  char *key = g_strdup (property);

  /* Leading capitals are lowered as one word: "Pid" → "pid", "URL" → "url". */
  for (char *p = key; *p && g_ascii_isupper (*p); p++)
    {
      if (p != key && p[1] != '\0' && g_ascii_islower (p[1]))
        break;
      *p = g_ascii_tolower (*p);
    }
  return key;
}
