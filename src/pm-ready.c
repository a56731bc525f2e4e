/* pm-ready.c — what a child says to be ready or alive (pure: no I/O).
 *
 * The JSON reader is not a JSON parser: it walks one message far enough to
 * find a top-level "ready" or "watchdog" member that is true, and gives up
 * (saying nothing) on anything it does not understand. Keys written with
 * escapes ("\u0072eady") are not recognised; node's JSON.stringify never
 * writes them.
 */
#include "config.h"

#include <string.h>

#include "pm-ready.h"

static gboolean
bytes_are (const char *p,
           gsize       len,
           const char *word)
{
  gsize n = strlen (word);

  return len == n && memcmp (p, word, n) == 0;
}

guint
pm_ready_parse_notify (const char  *buf,
                       gsize        len,
                       const char **status,
                       gsize       *status_len)
{
  const char *end = buf + len;
  const char *p = buf;
  guint says = 0;

  while (p < end)
    {
      const char *nl = memchr (p, '\n', end - p);
      const char *eol = nl ? nl : end;
      gsize n = eol - p;

      if (bytes_are (p, n, "READY=1"))
        says |= PM_READY_SAYS_READY;
      else if (bytes_are (p, n, "WATCHDOG=1"))
        says |= PM_READY_SAYS_PING;
      else if (n >= 7 && memcmp (p, "STATUS=", 7) == 0)
        {
          says |= PM_READY_SAYS_STATUS;
          if (status != NULL)
            *status = p + 7;
          if (status_len != NULL)
            *status_len = n - 7;
        }
      p = eol + 1;
    }
  return says;
}

typedef struct
{
  const char *p;
  const char *end;
} Scan;

static void
skip_ws (Scan *s)
{
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n'))
    s->p++;
}

/* At a '"': moves past the closing quote; the contents (raw) in @start/@len. */
static gboolean
scan_string (Scan        *s,
             const char **start,
             gsize       *len)
{
  const char *p = s->p + 1;

  for (; p < s->end; p++)
    {
      if (*p == '\\')
        {
          p++;
          continue;
        }
      if (*p == '"')
        {
          if (start != NULL)
            *start = s->p + 1;
          if (len != NULL)
            *len = p - (s->p + 1);
          s->p = p + 1;
          return TRUE;
        }
    }
  return FALSE;
}

/* Moves past one value of any kind; nesting is counted, not recursed into. */
static gboolean
skip_value (Scan *s)
{
  guint depth = 0;

  skip_ws (s);
  if (s->p >= s->end)
    return FALSE;
  if (*s->p != '{' && *s->p != '[')
    {
      if (*s->p == '"')
        return scan_string (s, NULL, NULL);
      /* A number or a literal. */
      while (s->p < s->end && strchr (",}] \t\r\n", *s->p) == NULL)
        s->p++;
      return TRUE;
    }

  while (s->p < s->end)
    {
      char c = *s->p;

      if (c == '"')
        {
          if (!scan_string (s, NULL, NULL))
            return FALSE;
          continue;
        }
      if (c == '{' || c == '[')
        depth++;
      else if (c == '}' || c == ']')
        {
          if (--depth == 0)
            {
              s->p++;
              return TRUE;
            }
        }
      s->p++;
    }
  return FALSE;
}

static guint
says_for (const char *word,
          gsize       len)
{
  if (bytes_are (word, len, "ready"))
    return PM_READY_SAYS_READY;
  if (bytes_are (word, len, "watchdog"))
    return PM_READY_SAYS_PING;
  return 0;
}

static guint
parse_object (Scan *s)
{
  guint says = 0;

  s->p++;     /* '{' */
  skip_ws (s);
  if (s->p < s->end && *s->p == '}')
    {
      s->p++;
      return 0;
    }

  for (;;)
    {
      const char *key, *value;
      gsize key_len;

      skip_ws (s);
      if (s->p >= s->end || *s->p != '"' || !scan_string (s, &key, &key_len))
        return 0;
      skip_ws (s);
      if (s->p >= s->end || *s->p != ':')
        return 0;
      s->p++;
      skip_ws (s);
      value = s->p;
      if (!skip_value (s))
        return 0;
      if (bytes_are (value, s->p - value, "true"))
        says |= says_for (key, key_len);
      skip_ws (s);
      if (s->p >= s->end)
        return 0;
      if (*s->p == '}')
        {
          s->p++;
          return says;
        }
      if (*s->p != ',')
        return 0;
      s->p++;
    }
}

guint
pm_ready_parse_message (const char *line,
                        gsize       len)
{
  Scan s = { line, line + len };
  guint says = 0;

  skip_ws (&s);
  if (s.p >= s.end)
    return 0;

  if (*s.p == '"')
    {
      const char *word;
      gsize word_len;

      if (!scan_string (&s, &word, &word_len))
        return 0;
      says = says_for (word, word_len);
    }
  else if (*s.p == '{')
    says = parse_object (&s);
  else
    return 0;

  /* Only whitespace may follow the one message. */
  skip_ws (&s);
  return s.p == s.end ? says : 0;
}

gboolean
pm_ready_line_matches (GRegex       *regex,
                       const guint8 *line,
                       gsize         len)
{
  return g_regex_match_full (regex, (const char *) line, (gssize) len, 0, 0, NULL, NULL);
}
