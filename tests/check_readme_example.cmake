# Fails unless README.md contains examples/readme_usage.cpp verbatim as a
# ```cpp block, so the README's example is the code the tests build and run.
file(READ ${README} readme)
file(READ ${EXAMPLE} example)
string(FIND "${readme}" "```cpp\n${example}```" where)
if(where EQUAL -1)
  message(FATAL_ERROR "README.md does not contain ${EXAMPLE} verbatim in a ```cpp block")
endif()
message(STATUS "README example is in sync with ${EXAMPLE}")
