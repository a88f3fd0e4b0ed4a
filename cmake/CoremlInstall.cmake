# `cmake --install`: public headers, the libraries of every layer built, the `coreml` command,
# a CMake package (find_package(coreml): coreml::core, coreml::llm, coreml::hub, coreml::coreml)
# and pkg-config files (coreml.pc for everything built, coreml-<layer>.pc for one layer).
# Everything installed is relocatable: `cmake --install build --prefix DIR` works for any DIR.
include(CMakePackageConfigHelpers)

set(COREML_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/coreml)
set(COREML_PKGCONFIG_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
# The .pc files find the prefix from their own place (lib/pkgconfig or lib/<triplet>/pkgconfig).
file(RELATIVE_PATH COREML_PC_TO_PREFIX /prefix/${COREML_PKGCONFIG_DIR} /prefix)

set(COREML_INSTALL_TARGETS coreml_all)
foreach(layer IN LISTS COREML_LAYERS)
  list(APPEND COREML_INSTALL_TARGETS coreml_${layer})
endforeach()
install(TARGETS ${COREML_INSTALL_TARGETS} EXPORT coremlTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS coreml_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Headers of the layers built only.
set(COREML_HEADER_EXCLUDES)
if(NOT COREML_WITH_LLM)
  list(APPEND COREML_HEADER_EXCLUDES PATTERN llm EXCLUDE)
endif()
if(NOT COREML_WITH_HUB)
  list(APPEND COREML_HEADER_EXCLUDES PATTERN hub.h EXCLUDE)
endif()
install(DIRECTORY ${CMAKE_SOURCE_DIR}/include/coreml DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h" ${COREML_HEADER_EXCLUDES})
install(FILES ${COREML_GENERATED_INCLUDE}/coreml/version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/coreml)

# --- CMake package ---------------------------------------------------------------------
install(EXPORT coremlTargets NAMESPACE coreml:: DESTINATION ${COREML_CMAKE_DIR})
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/coremlConfig.cmake.in
  ${CMAKE_BINARY_DIR}/coremlConfig.cmake INSTALL_DESTINATION ${COREML_CMAKE_DIR})
# 0.x: a minor version may change the API.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/coremlConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/coremlConfig.cmake ${CMAKE_BINARY_DIR}/coremlConfigVersion.cmake
        DESTINATION ${COREML_CMAKE_DIR})

# --- pkg-config --------------------------------------------------------------------------
# A static library's own dependencies must be linked by its user, so with static libraries they
# are plain Requires (no --static needed); shared libraries carry them (Requires.private).
if(BUILD_SHARED_LIBS)
  set(COREML_PC_DEPS_FIELD "Requires.private")
else()
  set(COREML_PC_DEPS_FIELD "Requires")
endif()
set(COREML_PC_core_PUBLIC)
set(COREML_PC_core_PRIVATE protobuf libhwy nlohmann_json libpng libjpeg)
set(COREML_PC_core_DESCRIPTION "Runs Apple Core ML models: tensors, model containers, runtime")
set(COREML_PC_hub_PUBLIC coreml-core)
set(COREML_PC_hub_PRIVATE libcurl libarchive nlohmann_json)
set(COREML_PC_hub_DESCRIPTION "coreml-cpp Hugging Face Hub downloads")
set(COREML_PC_llm_PUBLIC coreml-core nlohmann_json)
set(COREML_PC_llm_PRIVATE yaml-cpp libpcre2-8 libutf8proc)
if(COREML_WITH_HUB)
  list(APPEND COREML_PC_llm_PRIVATE coreml-hub)
endif()
set(COREML_PC_llm_DESCRIPTION "coreml-cpp LLMs: tokenizer, chat templates, ANEMLL models")

# Writes NAME.pc; PUBLIC and PRIVATE are lists of pkg-config modules.
function(coreml_write_pc name description libs)
  cmake_parse_arguments(ARG "" "" "PUBLIC;PRIVATE" ${ARGN})
  if(NOT BUILD_SHARED_LIBS)
    list(APPEND ARG_PUBLIC ${ARG_PRIVATE})
    set(ARG_PRIVATE)
  endif()
  set(deps "")
  if(ARG_PUBLIC)
    list(JOIN ARG_PUBLIC ", " modules)
    string(APPEND deps "Requires: ${modules}\n")
  endif()
  if(ARG_PRIVATE)
    list(JOIN ARG_PRIVATE ", " modules)
    string(APPEND deps "Requires.private: ${modules}\n")
  endif()
  set(out ${CMAKE_BINARY_DIR}/pkgconfig/${name}.pc)
  file(WRITE ${out} "\
prefix=\${pcfiledir}/${COREML_PC_TO_PREFIX}
libdir=\${prefix}/${CMAKE_INSTALL_LIBDIR}
includedir=\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}

Name: ${name}
Description: ${description}
Version: ${PROJECT_VERSION}
${deps}Libs: ${libs}
Cflags: -I\${includedir}
")
  install(FILES ${out} DESTINATION ${COREML_PKGCONFIG_DIR})
endfunction()

set(COREML_PC_ALL)
foreach(layer IN LISTS COREML_LAYERS)
  set(libs "-L\${libdir} -lcoreml_${layer}")
  if(layer STREQUAL "core")
    string(APPEND libs " -pthread")
  endif()
  coreml_write_pc(coreml-${layer} "${COREML_PC_${layer}_DESCRIPTION}" "${libs}"
                  PUBLIC ${COREML_PC_${layer}_PUBLIC} PRIVATE ${COREML_PC_${layer}_PRIVATE})
  list(PREPEND COREML_PC_ALL coreml-${layer})
endforeach()
coreml_write_pc(coreml "Runs Apple Core ML models (every layer of this build)" ""
                PUBLIC ${COREML_PC_ALL})
