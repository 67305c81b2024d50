/**
 * Every keyword keepalived knows, per block, from keepalived.conf(5) and checked
 * against keepalived 2.2.7 itself: each word was fed to `keepalived -t` in each
 * block and kept when it was not reported as an "Unknown keyword". The mapper
 * implements some of them; the others get one "not implemented" warning and
 * their contents are skipped. A word in none of these lists is an error.
 */

/** Top level. `include*` lines are handled by the lexer. */
export const TOP_LEVEL = [
  'global_defs',
  'vrrp_script',
  'vrrp_instance',
  'vrrp_sync_group',
  // not implemented by keepquorum
  'net_namespace',
  'net_namespace_ipvs',
  'namespace_with_ipsets',
  'instance',
  'use_pid_dir',
  'linkbeat_use_polling',
  'child_wait_time',
  'linkbeat_interfaces',
  'interface_up_down_delays',
  'track_group',
  'static_ipaddress',
  'static_routes',
  'static_rules',
  'track_file',
  'vrrp_track_file',
  'vrrp_track_process',
  'bfd_instance',
  'garp_group',
  'virtual_server_group',
  'virtual_server',
  'SSL',
] as const;

export const GLOBAL_DEFS = [
  'router_id',
  'vrrp_version',
  'vrrp_mcast_group4',
  'vrrp_mcast_group6',
  'vrrp_garp_master_delay',
  'vrrp_garp_master_repeat',
  'vrrp_garp_master_refresh',
  'vrrp_garp_master_refresh_repeat',
  'vrrp_garp_interval',
  'vrrp_gna_interval',
  'vrrp_min_garp',
  'script_user',
  'enable_script_security',
  'vrrp_strict',
  'vrrp_skip_check_adv_addr',
  'vrrp_priority',
  // not implemented by keepquorum
  'bfd_cpu_affinity', 'bfd_no_swap', 'bfd_priority', 'bfd_process_name', 'bfd_rlimit_rtime', 'bfd_rlimit_rttime',
  'bfd_rt_priority', 'checker_cpu_affinity', 'checker_log_all_failures', 'checker_no_swap', 'checker_priority',
  'checker_process_name', 'checker_rlimit_rtime', 'checker_rlimit_rttime', 'checker_rt_priority', 'config_save_dir',
  'data_use_instance', 'dbus_service_name', 'default_interface', 'disable_local_igmp', 'dynamic_interfaces',
  'enable_dbus', 'enable_snmp_checker', 'enable_snmp_keepalived', 'enable_snmp_rfc', 'enable_snmp_rfcv2',
  'enable_snmp_rfcv3', 'enable_snmp_vrrp', 'enable_traps', 'fifo_write_vrrp_states_on_reload', 'include_check',
  'log_unknown_vrids', 'lvs_flush', 'lvs_flush_on_stop', 'lvs_flush_onstop', 'lvs_netlink_cmd_rcv_bufs',
  'lvs_netlink_cmd_rcv_bufs_force', 'lvs_netlink_monitor_rcv_bufs', 'lvs_netlink_monitor_rcv_bufs_force',
  'lvs_notify_fifo', 'lvs_notify_fifo_script', 'lvs_process_name', 'lvs_sync_daemon', 'lvs_timeouts',
  'max_auto_priority', 'min_auto_priority_delay', 'nftables', 'nftables_counters', 'nftables_ifindex',
  'nftables_ipvs', 'nftables_ipvs_priority', 'nftables_ipvs_start_fwmark', 'nftables_priority', 'no_checker_emails',
  'no_email_faults', 'notification_email', 'notification_email_from', 'notify_fifo', 'notify_fifo_script',
  'process_monitor_rcv_bufs', 'process_monitor_rcv_bufs_force', 'process_name', 'process_names', 'random_seed',
  'reload_check_config', 'reload_file', 'reload_repeat', 'reload_time_file', 'rs_init_notifies', 'shutdown_script',
  'shutdown_script_timeout', 'smtp_alert', 'smtp_alert_checker', 'smtp_alert_vrrp', 'smtp_connect_timeout',
  'smtp_helo_name', 'smtp_server', 'snmp_socket', 'startup_script', 'startup_script_timeout', 'tmp_config_directory',
  'umask', 'vmac_addr_prefix', 'vmac_prefix', 'vrrp_check_unicast_src', 'vrrp_cpu_affinity',
  'vrrp_down_timer_adverts', 'vrrp_garp_extra_if', 'vrrp_garp_lower_prio_delay', 'vrrp_garp_lower_prio_repeat',
  'vrrp_higher_prio_send_advert', 'vrrp_iptables', 'vrrp_ipsets', 'vrrp_lower_prio_no_advert',
  'vrrp_netlink_cmd_rcv_bufs', 'vrrp_netlink_cmd_rcv_bufs_force', 'vrrp_netlink_monitor_rcv_bufs',
  'vrrp_netlink_monitor_rcv_bufs_force', 'vrrp_no_swap', 'vrrp_notify_fifo', 'vrrp_notify_fifo_script',
  'vrrp_notify_priority_changes', 'vrrp_process_name', 'vrrp_rlimit_rtime', 'vrrp_rlimit_rttime',
  'vrrp_rt_priority', 'vrrp_rx_bufs_multiplier', 'vrrp_rx_bufs_policy', 'vrrp_startup_delay', 'vrrp_vmac_garp_intvl',
] as const;

export const VRRP_SCRIPT = ['script', 'interval', 'timeout', 'weight', 'rise', 'fall', 'user', 'init_fail'] as const;

export const VRRP_INSTANCE = [
  'state',
  'interface',
  'virtual_router_id',
  'priority',
  'advert_int',
  'version',
  'authentication',
  'nopreempt',
  'preempt',
  'preempt_delay',
  'virtual_ipaddress',
  'virtual_ipaddress_excluded',
  'unicast_src_ip',
  'unicast_peer',
  'mcast_src_ip',
  'track_interface',
  'track_script',
  'notify_master',
  'notify_backup',
  'notify_fault',
  'notify_stop',
  'notify',
  // not implemented by keepquorum
  'accept', 'no_accept', 'check_unicast_src', 'debug', 'dont_track_primary', 'down_timer_adverts', 'garp_extra_if',
  'garp_lower_prio_delay', 'garp_lower_prio_repeat', 'garp_master_delay', 'garp_master_refresh',
  'garp_master_refresh_repeat', 'garp_master_repeat', 'higher_prio_send_advert', 'kernel_rx_buf_size',
  'linkbeat_use_polling', 'lower_prio_no_advert', 'lvs_sync_daemon_interface', 'mcast_dst_ip', 'native_ipv6',
  'notify_deleted', 'notify_master_rx_lower_pri', 'notify_priority_changes', 'old_unicast_checksum',
  'promote_secondaries', 'skip_check_adv_addr', 'smtp_alert', 'strict_mode', 'track_bfd', 'track_file',
  'track_process', 'track_src_ip', 'unicast_fault_no_peer', 'unicast_ttl', 'use_ipvlan', 'use_vmac', 'use_vmac_addr',
  'virtual_routes', 'virtual_rules', 'vmac_garp_intvl', 'vmac_xmit_base', 'vrf',
] as const;

export const AUTHENTICATION = ['auth_type', 'auth_pass'] as const;

export const VRRP_SYNC_GROUP = [
  'group',
  'notify_master',
  'notify_backup',
  'notify_fault',
  'notify_stop',
  'notify',
  // not implemented by keepquorum
  'track_interface', 'track_script', 'track_file', 'track_process', 'track_bfd', 'notify_deleted',
  'notify_priority_changes', 'smtp_alert', 'global_tracking', 'sync_group_tracking_weight',
] as const;

/** virtual_ipaddress / virtual_ipaddress_excluded line options keepquorum does not implement. */
export const VIP_OPTIONS_NOT_IMPLEMENTED = [
  'use_vmac', 'no_track', 'home', '-nodad', 'nodad', 'mngtmpaddr', 'noprefixroute', 'autojoin',
] as const;
/** The same, taking a value. */
export const VIP_OPTIONS_WITH_VALUE_NOT_IMPLEMENTED = ['peer', 'preferred_lft', 'track_group'] as const;
