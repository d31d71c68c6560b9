#ifndef FOOTPRINT_CYAML_SHIM_H
#define FOOTPRINT_CYAML_SHIM_H
#include <yaml.h>
#endif
