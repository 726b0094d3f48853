/*
 * tests/plugins/declining_plugin.c - a test double whose entry point
 * returns NULL: it declines every ABI version the host offers.
 */
#include "ocs/plugin.h"

OCS_PLUGIN_EXPORT const ocs_plugin_v1 *ocs_plugin_entry(uint32_t abi_version)
{
    (void)abi_version;
    return NULL;
}
