// The grammar of a weights spec, shared by the stages (variants/core/checkpoint.c parses and
// loads it) and the harness (which checks the file is readable and hashes it before a run):
// SOURCE[+OPTION]..., an option being the text after a '+' made only of letters, digits, '_'
// and '-' (possibly empty: the stages refuse that by name), so "/data/a+b/sam.pth" stays a
// source.
#ifndef SAM_WEIGHTS_SPEC_H
#define SAM_WEIGHTS_SPEC_H

#include <stddef.h>

// The length of spec's source part (spec itself when it has no options).
size_t weights_spec_source_len(const char *spec);

#endif
