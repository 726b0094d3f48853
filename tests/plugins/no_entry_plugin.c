/*
 * tests/plugins/no_entry_plugin.c - a test double: a shared library that
 * exports no ocs_plugin_entry, so the host must refuse to load it.
 */
#include "ocs/plugin.h"

OCS_PLUGIN_EXPORT int ocs_not_a_plugin(void);

OCS_PLUGIN_EXPORT int ocs_not_a_plugin(void)
{
    return OCS_PLUGIN_ABI_VERSION;
}
