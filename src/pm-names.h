/* pm-names.h — every bus name, object path and interface name, in one place. */
#pragma once

#define PM_DBUS_NAME              "org.elife.ProcessManager"
#define PM_DBUS_PATH              "/org/elife/ProcessManager"
#define PM_DBUS_INTERFACE         "org.elife.ProcessManager"
#define PM_DBUS_PROCESS_INTERFACE "org.elife.ProcessManager.Process"
#define PM_DBUS_PROCESS_PATH_FMT  PM_DBUS_PATH "/process/%u"
#define PM_DBUS_ERROR_PREFIX      "org.elife.ProcessManager.Error."
