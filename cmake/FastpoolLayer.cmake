# fp_layer(NAME SOURCES src... [LAYERS lower...] [LIBS external...]
#          [ANCHORS symbol...])
#
# One layer of libfastpool: an object library `fp_NAME` built from its own
# folder's sources, seeing the project root (includes name their layer:
# "common/log.h") and the public headers.  LAYERS names the layers below it
# (dependencies point one way: a layer never names one above it); LIBS the
# external libraries its code calls.  ANCHORS names symbols a static link
# must pull in: an object that only registers itself at load time (a
# constructor) is referenced by nobody, so libfastpool.a would drop it;
# lib/ passes -Wl,--undefined=SYMBOL for each to static links.  lib/ assembles libfastpool from every
# layer declared this way, so a new layer is a new folder with one of these
# calls and edits no other layer's build file.
function(fp_layer name)
  cmake_parse_arguments(L "" "" "SOURCES;LAYERS;LIBS;ANCHORS" ${ARGN})
  add_library(fp_${name} OBJECT ${L_SOURCES})
  target_include_directories(fp_${name} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>)
  target_compile_definitions(fp_${name} PUBLIC _GNU_SOURCE)
  foreach(dep IN LISTS L_LAYERS)
    target_link_libraries(fp_${name} PUBLIC fp_${dep})
  endforeach()
  if(L_LIBS)
    target_link_libraries(fp_${name} PUBLIC ${L_LIBS})
  endif()
  set_property(GLOBAL APPEND PROPERTY FP_LAYERS fp_${name})
  set_property(GLOBAL APPEND PROPERTY FP_LAYER_LIBS ${L_LIBS})
  set_property(GLOBAL APPEND PROPERTY FP_LAYER_ANCHORS ${L_ANCHORS})
endfunction()
