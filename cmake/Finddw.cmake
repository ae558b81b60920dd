# Finddw.cmake — finds elfutils' libdw and defines the imported target
# dw::dw.
#
# As Finduring.cmake: pkg-config (when present) only supplies hints. Used by
# axle's build (core/backtrace.c symbolizes error backtraces with libdwfl)
# and installed beside axleConfig.cmake, where it re-creates the dependency
# that the static libaxle.a carries. Debian: libdw-dev.
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
    pkg_check_modules(PC_DW QUIET libdw)
endif()

find_path(DW_INCLUDE_DIR elfutils/libdwfl.h HINTS ${PC_DW_INCLUDE_DIRS})
find_library(DW_LIBRARY NAMES dw HINTS ${PC_DW_LIBRARY_DIRS})
mark_as_advanced(DW_INCLUDE_DIR DW_LIBRARY)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(dw
    REQUIRED_VARS DW_LIBRARY DW_INCLUDE_DIR
    VERSION_VAR PC_DW_VERSION)

if(dw_FOUND AND NOT TARGET dw::dw)
    add_library(dw::dw UNKNOWN IMPORTED)
    set_target_properties(dw::dw PROPERTIES
        IMPORTED_LOCATION "${DW_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${DW_INCLUDE_DIR}")
endif()
