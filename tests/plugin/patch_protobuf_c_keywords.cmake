# protoc-c 1.4.1 writes a method's lower-case name unchanged as a member of
# its own service struct (`void (*return)(...)`), which does not compile
# when the name is a keyword. tern's code is not affected (it appends "_"),
# but it includes that header; this renames those members so the keyword
# test can build. Usage: cmake -DHEADER=x.pb-c.h -P this-file
file(READ "${HEADER}" text)
string(REGEX REPLACE
  "\\(\\*(return|int|default|class|new|linux)\\)\\("
  "(*\\1_)(" text "${text}")
file(WRITE "${HEADER}" "${text}")
