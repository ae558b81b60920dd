# Findprotobuf-c.cmake — finds libprotobuf-c and defines the imported target
# protobuf-c::protobuf-c (the name upstream's own CMake package exports).
#
# As Finduring.cmake: pkg-config (when present) only supplies hints. Used by
# axle's build and installed beside axleConfig.cmake, where it re-creates the
# dependency that <axle/msg.h> (through the generated axle.pb-c.h) and both
# libraries carry. protoc-c, the code generator, is found by the build only.
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
    pkg_check_modules(PC_PROTOBUF_C QUIET libprotobuf-c)
endif()

find_path(PROTOBUF_C_INCLUDE_DIR protobuf-c/protobuf-c.h HINTS ${PC_PROTOBUF_C_INCLUDE_DIRS})
find_library(PROTOBUF_C_LIBRARY NAMES protobuf-c HINTS ${PC_PROTOBUF_C_LIBRARY_DIRS})
mark_as_advanced(PROTOBUF_C_INCLUDE_DIR PROTOBUF_C_LIBRARY)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(protobuf-c
    REQUIRED_VARS PROTOBUF_C_LIBRARY PROTOBUF_C_INCLUDE_DIR
    VERSION_VAR PC_PROTOBUF_C_VERSION)

if(protobuf-c_FOUND AND NOT TARGET protobuf-c::protobuf-c)
    add_library(protobuf-c::protobuf-c UNKNOWN IMPORTED)
    set_target_properties(protobuf-c::protobuf-c PROPERTIES
        IMPORTED_LOCATION "${PROTOBUF_C_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${PROTOBUF_C_INCLUDE_DIR}")
endif()
