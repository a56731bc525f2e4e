/* pm-cli.h — what the commands of `elife-pm` share: the bus connection, the
 * generated proxies, finding processes by NAME|ID, and how errors are told.
 *
 * Each command lives in its own pm-cli-<command>.c and is one entry of the
 * table in elife-pm.c; its callback gets the arguments after the command's
 * name and returns the exit status (0 ok, 1 failure, 2 usage).
 */
#pragma once

#include <gio/gio.h>

#include "pm-dbus.h"

G_BEGIN_DECLS

#define PM_CLI_EXIT_OK      0
#define PM_CLI_EXIT_FAILURE 1
#define PM_CLI_EXIT_USAGE   2

typedef struct
{
  /* From the bus options. */
  gboolean              system;
  gboolean              session;
  char                 *address;

  GDBusConnection      *connection;
  char                 *bus_label;   /* "the session bus", "the bus at ADDR" */
  PmDBusProcessManager *manager;
  GDBusObjectManager   *objects;
  GMainLoop            *loop;
  int                   status;      /* exit status of an asynchronous command */
} PmCli;

typedef struct _PmCliCommand PmCliCommand;
typedef int (*PmCliFunc) (PmCli              *cli,
                          const PmCliCommand *command,
                          int                 argc,
                          char              **argv);
struct _PmCliCommand
{
  const char *name;
  const char *arguments;     /* N_() text after the name in the usage line */
  const char *description;   /* N_() one line */
  PmCliFunc   func;
};

/* The bus options (--session, --system, --address), for every context. */
const GOptionEntry *pm_cli_bus_entries (PmCli *cli);

/* A command's option context: usage "elife-pm NAME ARGUMENTS", its
 * description, the bus options, and @entries (may be NULL). */
GOptionContext *pm_cli_context_new    (PmCli              *cli,
                                       const PmCliCommand *command,
                                       const GOptionEntry *entries);
/* Parses; on a usage error prints it with the usage and returns FALSE. */
gboolean      pm_cli_parse            (GOptionContext *context,
                                       int            *argc,
                                       char         ***argv);
/* Prints "elife-pm: MESSAGE" and the command's usage; returns 2. */
int           pm_cli_usage_error      (GOptionContext *context,
                                       const char     *message);

/* Connects to the chosen bus and makes sure elife-pmd answers there
 * (activating it if the bus can). FALSE with a message naming the bus. */
gboolean      pm_cli_connect          (PmCli   *cli,
                                       GError **error);
/* The object manager client (all process objects), created on first use. */
GDBusObjectManager *pm_cli_objects    (PmCli   *cli,
                                       GError **error);
/* Process proxies for NAME|ID, by increasing id; NotFound-style error
 * (the daemon's wording) when none matches. */
GPtrArray    *pm_cli_find             (PmCli      *cli,
                                       const char *target,
                                       GError    **error);
/* Every process proxy, by increasing id. */
GPtrArray    *pm_cli_all              (PmCli   *cli,
                                       GError **error);
/* id → (pid, cpu_usec, rss_bytes) from Stats; values are guint64[3]. */
GHashTable   *pm_cli_stats            (PmCli   *cli,
                                       GError **error);

/* "elife-pm: MESSAGE" on stderr (the remote error name stripped); returns 1. */
int           pm_cli_fail             (GError *error);
/* Runs cli->loop until a command quits it or SIGINT/SIGTERM/SIGHUP. */
void          pm_cli_run_until_interrupted (PmCli *cli);

void          pm_cli_clear            (PmCli *cli);

/* The commands. */
int pm_cli_start       (PmCli *cli, const PmCliCommand *command, int argc, char **argv);
int pm_cli_stop        (PmCli *cli, const PmCliCommand *command, int argc, char **argv);
int pm_cli_restart     (PmCli *cli, const PmCliCommand *command, int argc, char **argv);
int pm_cli_stop_all    (PmCli *cli, const PmCliCommand *command, int argc, char **argv);
int pm_cli_list        (PmCli *cli, const PmCliCommand *command, int argc, char **argv);
int pm_cli_status      (PmCli *cli, const PmCliCommand *command, int argc, char **argv);
int pm_cli_logs        (PmCli *cli, const PmCliCommand *command, int argc, char **argv);
int pm_cli_monitor     (PmCli *cli, const PmCliCommand *command, int argc, char **argv);
int pm_cli_apply       (PmCli *cli, const PmCliCommand *command, int argc, char **argv);
int pm_cli_reopen_logs (PmCli *cli, const PmCliCommand *command, int argc, char **argv);
int pm_cli_version     (PmCli *cli, const PmCliCommand *command, int argc, char **argv);

/* JSON of one process: every property with its key lowered (Pid → pid),
 * plus cpuUsec and rssBytes (0 when not running). */
void pm_cli_append_process_json (GString                     *out,
                                 PmDBusProcessManagerProcess *process,
                                 GHashTable                  *stats);

G_END_DECLS

G_BEGIN_DECLS
/* stop / restart NAME|ID…: by name through the manager, by id through the
 * process object; prints the total; every target is tried. */
int pm_cli_act_on_targets (PmCli              *cli,
                           const PmCliCommand *command,
                           int                 argc,
                           char              **argv,
                           gboolean            restart);
G_END_DECLS
