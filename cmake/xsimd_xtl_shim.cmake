# Debian's xsimd 8.1 package exports a target that links a plain "xtl", yet xtl is needed only
# for xsimd's optional xtl::xcomplex support, which ctnn does not use. Use the real xtl target
# when xtl is installed; otherwise give the name an empty header-only target so that linking
# does not ask for a non-existent libxtl.
find_package(xtl QUIET)
if(NOT TARGET xtl)
  add_library(xtl INTERFACE IMPORTED)
endif()
