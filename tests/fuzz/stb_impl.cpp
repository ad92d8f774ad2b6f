// tests/fuzz/stb_impl.cpp — stb_image and stb_image_resize compiled from Debian's unmodified
// headers (libstb-dev, the same code as the prebuilt libstb) into fuzz_image, so libFuzzer sees
// their coverage and AddressSanitizer checks their memory accesses. Only fuzzers do this; programs
// that link ctnn::ctnn use libstb and must not define these macros (see ctnn/data/image.hpp).
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>
