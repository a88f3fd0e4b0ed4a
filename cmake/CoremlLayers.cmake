# The library's layers and how a source file is assigned to them.
#
#   coreml::core  src/{tensor,format,mil,runtime,kernels,backends,model,image,classic}: tensors,
#                 the three model containers, the MIL program, the runtime, CPU kernels, backends,
#                 image inputs (libpng, libjpeg), classic model types
#   coreml::hub   src/hub: Hugging Face downloads, .mlmodelc.zip extraction (curl, libarchive)
#   coreml::llm   src/llm: tokenizer, chat templates, ANEMLL pipeline (PCRE2, utf8proc, yaml-cpp)
#
# core depends on nothing of ours; hub on core; llm on core and, when it is built, hub (llm
# guards its two uses with COREML_WITH_HUB). Which layers a file needs is read from its
# #include lines, so a program, test or command that includes an llm or hub header is left out
# of a build without that layer, and a core file that includes one fails the configure step.

set(COREML_CORE_DIRS tensor format mil runtime kernels backends model image classic)
set(COREML_HUB_DIRS hub)
set(COREML_LLM_DIRS llm)

# Layer of src/<dir>/...: core, hub or llm; a directory in no list is a configure error, so that
# a new one is placed on purpose.
function(coreml_layer_of_source file out_var)
  file(RELATIVE_PATH rel ${CMAKE_SOURCE_DIR}/src ${file})
  string(REGEX REPLACE "/.*" "" dir "${rel}")
  foreach(layer CORE HUB LLM)
    if(dir IN_LIST COREML_${layer}_DIRS)
      string(TOLOWER ${layer} name)
      set(${out_var} ${name} PARENT_SCOPE)
      return()
    endif()
  endforeach()
  message(FATAL_ERROR "src/${dir}/ belongs to no layer: add it to COREML_CORE_DIRS, "
                      "COREML_HUB_DIRS or COREML_LLM_DIRS in cmake/CoremlLayers.cmake")
endfunction()

# What `file` needs, from its #include lines and those of the quoted headers it includes from
# its own folder (followed to any depth): a list of "llm", "hub", "httplib".
function(coreml_needs_of file out_var)
  set(needs)
  set(pending ${file})
  set(seen)
  while(pending)
    list(POP_FRONT pending current)
    if(current IN_LIST seen)
      continue()
    endif()
    list(APPEND seen ${current})
    get_filename_component(folder ${current} DIRECTORY)
    file(STRINGS ${current} lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
    foreach(line IN LISTS lines)
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"].*" "\\1" header "${line}")
      if(header MATCHES "^(coreml/llm/|llm/)")
        list(APPEND needs llm)
      elseif(header MATCHES "^(coreml/hub\\.h|hub/)")
        list(APPEND needs hub)
      elseif(header STREQUAL "httplib.h")
        list(APPEND needs httplib)
      elseif(EXISTS ${folder}/${header})
        list(APPEND pending ${folder}/${header})
      endif()
    endforeach()
  endwhile()
  list(REMOVE_DUPLICATES needs)
  set(${out_var} ${needs} PARENT_SCOPE)
endfunction()

# True when every layer in `needs` is part of this build.
function(coreml_layers_available needs out_var)
  set(ok TRUE)
  if("llm" IN_LIST needs AND NOT COREML_WITH_LLM)
    set(ok FALSE)
  endif()
  if("hub" IN_LIST needs AND NOT COREML_WITH_HUB)
    set(ok FALSE)
  endif()
  set(${out_var} ${ok} PARENT_SCOPE)
endfunction()

# Fails the configure step when a file of `layer` includes a header of a layer above it.
function(coreml_check_layer_includes layer)
  foreach(file IN LISTS ARGN)
    coreml_needs_of(${file} needs)
    set(forbidden)
    if(layer STREQUAL "core")
      set(forbidden llm hub)
    elseif(layer STREQUAL "hub")
      set(forbidden llm)
    endif()
    foreach(above IN LISTS forbidden)
      if(above IN_LIST needs)
        file(RELATIVE_PATH rel ${CMAKE_SOURCE_DIR} ${file})
        message(FATAL_ERROR "${rel} (coreml::${layer}) includes a coreml::${above} header: "
                            "${layer} must not depend on ${above} (see cmake/CoremlLayers.cmake)")
      endif()
    endforeach()
  endforeach()
endfunction()

# One layer: an object library (compiled once) and coreml_<layer>, static or shared after
# BUILD_SHARED_LIBS, built from those objects (plus EXTRA_OBJECTS). Only the public API
# (include/coreml, wrapped in COREML_PUBLIC_BEGIN/END) is exported: everything else is hidden.
#   PUBLIC / PRIVATE: link dependencies (also used to compile the objects)
#   COMPILE_ONLY: targets whose usage requirements the objects need but that are not linked
function(coreml_add_layer layer)
  cmake_parse_arguments(ARG "" "" "SOURCES;EXTRA_OBJECTS;PUBLIC;PRIVATE;COMPILE_ONLY;DEFINITIONS"
                        ${ARGN})
  set(objects coreml_${layer}_objects)
  add_library(${objects} OBJECT ${ARG_SOURCES})
  target_include_directories(${objects} PRIVATE ${CMAKE_SOURCE_DIR}/src ${COREML_PROTO_OUT}
                                                ${DLPACK_INCLUDE_DIR})
  target_link_libraries(${objects} PUBLIC ${ARG_PUBLIC} PRIVATE ${ARG_PRIVATE} ${ARG_COMPILE_ONLY})
  target_compile_options(${objects} PRIVATE ${COREML_WARNINGS})
  target_compile_definitions(${objects} PRIVATE ${ARG_DEFINITIONS})
  # Position-independent in static builds too: the static libraries can then go into a shared
  # object (a Python module, a plugin), and static and shared builds compile the same objects.
  # Nothing is interposed: calls inside the library stay direct and inlinable.
  set_target_properties(${objects} PROPERTIES CXX_VISIBILITY_PRESET ${COREML_OBJECT_VISIBILITY}
                                              VISIBILITY_INLINES_HIDDEN ${COREML_INLINES_HIDDEN}
                                              POSITION_INDEPENDENT_CODE ON)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${objects} PRIVATE -fno-semantic-interposition)
  endif()

  set(lib coreml_${layer})
  if(COREML_LAYERS_SHARED_FOR_SANITIZERS)
    add_library(${lib} SHARED $<TARGET_OBJECTS:${objects}> ${ARG_EXTRA_OBJECTS})
  else()
    add_library(${lib} $<TARGET_OBJECTS:${objects}> ${ARG_EXTRA_OBJECTS})
  endif()
  add_library(coreml::${layer} ALIAS ${lib})
  target_link_libraries(${lib} PUBLIC ${ARG_PUBLIC} PRIVATE ${ARG_PRIVATE})
  set_target_properties(${lib} PROPERTIES
    EXPORT_NAME ${layer}
    VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}
    # An installed libcoreml_llm.so finds libcoreml_core.so next to itself.
    INSTALL_RPATH "$ORIGIN")
  if(BUILD_SHARED_LIBS AND CMAKE_SYSTEM_NAME STREQUAL "Linux" AND NOT COREML_SANITIZE
     AND NOT COREML_SANITIZE_THREAD AND NOT COREML_BUILD_FUZZERS)
    # Every symbol a layer uses must come from the layers it declares: a link error otherwise.
    target_link_options(${lib} PRIVATE -Wl,--no-undefined)
  endif()
endfunction()
