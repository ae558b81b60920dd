# Finduring.cmake — finds liburing and defines the imported target uring::uring.
#
# pkg-config (when present) only supplies hints; find_path/find_library do the
# finding, so this also works without pkg-config. Used by axle's own build and
# installed beside axleConfig.cmake, where it re-creates the dependency that
# the static libaxle.a carries.
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
    pkg_check_modules(PC_URING QUIET liburing)
endif()

find_path(URING_INCLUDE_DIR liburing.h HINTS ${PC_URING_INCLUDE_DIRS})
find_library(URING_LIBRARY NAMES uring HINTS ${PC_URING_LIBRARY_DIRS})
mark_as_advanced(URING_INCLUDE_DIR URING_LIBRARY)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(uring
    REQUIRED_VARS URING_LIBRARY URING_INCLUDE_DIR
    VERSION_VAR PC_URING_VERSION)

if(uring_FOUND AND NOT TARGET uring::uring)
    add_library(uring::uring UNKNOWN IMPORTED)
    set_target_properties(uring::uring PROPERTIES
        IMPORTED_LOCATION "${URING_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${URING_INCLUDE_DIR}")
endif()
