# Installs the configured ctnn build tree into a scratch prefix, then configures, builds and runs
# tests/consumer against it.   -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=...
#   -DVERSION=... (the project version the package must accept)
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix
                COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build
                        -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_BUILD_TYPE=Release
                        -DCTNN_VERSION=${VERSION}
                COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${WORK_DIR}/build/consumer COMMAND_ERROR_IS_FATAL ANY)

# The core alone: find_package(ctnn COMPONENTS core) with zlib and nlohmann-json hidden, and a
# link line without zlib or stb.
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/core -B ${WORK_DIR}/core
                        -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_BUILD_TYPE=Release
                        -DCTNN_VERSION=${VERSION} --no-warn-unused-cli -DCMAKE_DISABLE_FIND_PACKAGE_ZLIB=ON
                        -DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=ON
                COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/core --verbose
                OUTPUT_VARIABLE _core_build COMMAND_ERROR_IS_FATAL ANY)
if(_core_build MATCHES "libz\\.|-lz[ \n]|libzip|-lzip|libstb|-lstb|nlohmann")
  message(FATAL_ERROR "the core consumer's build names zlib, libzip, stb or nlohmann-json:\n${_core_build}")
endif()
execute_process(COMMAND ${WORK_DIR}/core/core_consumer COMMAND_ERROR_IS_FATAL ANY)
