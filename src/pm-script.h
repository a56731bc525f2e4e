/* pm-script.h — what a Start actually runs: the script path and working
 * directory resolved, node module folders turned into their package.json
 * `main`, and paths that run through an Electron ASAR archive recognised.
 */
#pragma once

#include <glib.h>

#include "pm-options.h"

G_BEGIN_DECLS

typedef struct
{
  char          *path;     /* absolute: the file exec'd or handed to the interpreter */
  char          *cwd;      /* absolute: where the child runs */
  char          *archive;  /* the .asar file @path runs through, or NULL */
  PmProgramKind  kind;
} PmScript;

/* Resolves @opts' script and cwd (reading a module folder's package.json).
 * The only errors: PM_ERROR_SPAWN_FAILED naming the file at fault. A path
 * that does not exist is not an error here: the spawner reports it. */
PmScript *pm_script_resolve             (const PmOptions *opts,
                                         GError         **error);
void      pm_script_free                (PmScript        *self);

/* Pure, for the resolver and its tests. */

/* The prefixes of absolute @path whose last component ends in ".asar",
 * shortest first; @path itself is never one (running an archive is not
 * running through it). */
GStrv     pm_script_archive_candidates  (const char      *path);

/* The `main` named by the package.json text @json of module folder @dir
 * (default "index.js"), absolute. @package_json names the file in errors. */
char     *pm_script_main_from_json      (const char      *dir,
                                         const char      *package_json,
                                         const char      *json,
                                         gssize           length,
                                         GError         **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PmScript, pm_script_free)

G_END_DECLS
