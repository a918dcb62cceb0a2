#include "weights_spec.h"

#include <string.h>

static int option_shaped(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

size_t weights_spec_source_len(const char *spec) {
    size_t end = strlen(spec);
    // Options from the last one back; a '+' whose tail is not option-shaped belongs to the source.
    for (;;) {
        size_t plus = end;
        while (plus > 0 && spec[plus - 1] != '+') plus--;
        if (plus == 0 || !option_shaped(spec + plus, end - plus)) return end;
        end = plus - 1;
    }
}
