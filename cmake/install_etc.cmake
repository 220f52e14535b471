# Run by `cmake --install`: the files whose place depends on the prefix given
# at install time. /etc when installing to /usr (a distribution package,
# tools/package), PREFIX/etc otherwise (/usr/local/etc by default), so one
# build tree installs both ways. The systemd unit names the installed paths.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(LB_ETC "/etc")
else()
  set(LB_ETC "${CMAKE_INSTALL_PREFIX}/etc")
endif()
set(LB_BINDIR "${CMAKE_INSTALL_PREFIX}/bin")
configure_file("${LB_SOURCE_DIR}/deploy/systemd/lb.service.in" "${LB_BINARY_DIR}/lb.service" @ONLY)
file(INSTALL "${LB_SOURCE_DIR}/config/lb.yaml" DESTINATION "${LB_ETC}/lb")
file(INSTALL "${LB_SOURCE_DIR}/deploy/logrotate/lb" DESTINATION "${LB_ETC}/logrotate.d")
file(INSTALL "${LB_BINARY_DIR}/lb.service" DESTINATION "${CMAKE_INSTALL_PREFIX}/${LB_SYSTEMD_UNIT_DIR}")
