# minja, the C++ Jinja engine written for chat templates (Google, MIT; the one
# llama.cpp renders chat templates with), for text/chat_template.hpp. It is not
# in Debian, so the build takes it from PyPI's source distribution of
# llama-cpp-python 0.3.16, whose vendored llama.cpp carries it: the archive is
# downloaded once (50 MB, sha256-pinned) into the download cache, and only
# minja.hpp is unpacked, into the build tree. Nothing of it is in the
# repository. The installed package carries the header under
# include/iglens/third_party/.
#
# Offline: IGLENS_MINJA_DIR names a folder that holds minja/minja.hpp.
# Cache folder: $IGLENS_MODEL_CACHE, else ~/.cache/iglens (as the scripts').
set(IGLENS_MINJA_DIR "" CACHE PATH "A folder holding minja/minja.hpp (skips the download)")

set(iglens_minja_sdist llama_cpp_python-0.3.16.tar.gz)
set(iglens_minja_url
    "https://files.pythonhosted.org/packages/e4/b4/c8cd17629ced0b9644a71d399a91145aedef109c0333443bef015e45b704/${iglens_minja_sdist}")
set(iglens_minja_sha256 34ed0f9bd9431af045bb63d9324ae620ad0536653740e9bb163a2e1fcb973be6)

if(IGLENS_MINJA_DIR)
  set(iglens_minja_include ${IGLENS_MINJA_DIR})
  if(NOT EXISTS ${iglens_minja_include}/minja/minja.hpp)
    message(FATAL_ERROR "IGLENS_MINJA_DIR '${IGLENS_MINJA_DIR}' holds no minja/minja.hpp")
  endif()
else()
  set(iglens_minja_include ${PROJECT_BINARY_DIR}/_deps/minja/include)
  if(DEFINED ENV{IGLENS_MODEL_CACHE})
    set(cache $ENV{IGLENS_MODEL_CACHE})
  else()
    set(cache $ENV{HOME}/.cache/iglens)
  endif()
  # The tests also read real models' chat templates from it (tests/tokenizer).
  set(IGLENS_MINJA_ARCHIVE ${cache}/${iglens_minja_sdist})
  set(archive ${IGLENS_MINJA_ARCHIVE})
  if(NOT EXISTS ${iglens_minja_include}/minja/minja.hpp OR NOT EXISTS ${archive})
    if(EXISTS ${archive})
      file(SHA256 ${archive} cached_sha256)
    endif()
    if(NOT cached_sha256 STREQUAL iglens_minja_sha256)
      message(STATUS "iglens: downloading ${iglens_minja_sdist} from PyPI (50 MB, once) for minja, the chat template engine")
      # A partial download never takes the archive's name.
      file(DOWNLOAD ${iglens_minja_url} ${archive}.part EXPECTED_HASH SHA256=${iglens_minja_sha256}
           STATUS download_status)
      list(GET download_status 0 download_code)
      if(NOT download_code EQUAL 0)
        file(REMOVE ${archive}.part)
        list(GET download_status 1 download_message)
        message(FATAL_ERROR "iglens: could not download ${iglens_minja_url}: ${download_message} "
                            "(or set IGLENS_MINJA_DIR to a folder holding minja/minja.hpp)")
      endif()
      file(RENAME ${archive}.part ${archive})
    endif()
    set(unpacked ${PROJECT_BINARY_DIR}/_deps/minja/unpacked)
    file(REMOVE_RECURSE ${unpacked})
    file(ARCHIVE_EXTRACT INPUT ${archive} DESTINATION ${unpacked}
         PATTERNS "llama_cpp_python-0.3.16/vendor/llama.cpp/vendor/minja/minja.hpp")
    file(COPY ${unpacked}/llama_cpp_python-0.3.16/vendor/llama.cpp/vendor/minja/minja.hpp
         DESTINATION ${iglens_minja_include}/minja)
    file(REMOVE_RECURSE ${unpacked})
  endif()
endif()
