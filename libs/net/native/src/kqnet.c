/*
 * keepquorum's native part: the two socket kinds Node cannot open.
 *
 *  - packetSend: one Ethernet frame out of an interface through AF_PACKET
 *    (gratuitous ARP and unsolicited Neighbour Advertisements).
 *  - raw4*: a send-only IPv4 socket for protocol 112 (IP_HDRINCL: the caller
 *    writes the whole IP header; a filter drops everything it would receive).
 *    raw-socket queues a send until libuv reports the socket writable, a loop
 *    turn later and two epoll_ctl calls per packet; an advert must leave at
 *    once. Not IPPROTO_RAW: its multicast loops back whatever
 *    IP_MULTICAST_LOOP says (seen on 6.18), and we would hear ourselves.
 *  - rtnlAck: one rtnetlink request (built by libs/net/src/rtnetlink.ts) sent
 *    and its acknowledgement read back before returning. The kernel handles
 *    an address change inside sendmsg, so this costs a fraction of a
 *    millisecond; doing it synchronously lets a takeover add its VIP and send
 *    its gratuitous ARP in the same turn of the loop, as keepalived does.
 *  - vrrp6*: a raw IPv6 socket for IP protocol 112. Node's raw-socket has no
 *    recvmsg, so it cannot tell the hop limit of a packet; a VRRP receiver
 *    must see it (RFC 5798 §7.1: hop limit 255 or drop). recvmsg gives it,
 *    with the destination address, as ancillary data.
 *
 * The socket is polled by libuv on Node's own loop; each packet is handed to
 * JavaScript in a receive buffer and a metadata buffer that JavaScript
 * allocated once, so the receive path creates no objects per packet but the
 * length argument. Send errors are returned as errno values, never thrown:
 * the caller counts them.
 */
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <net/if.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <sys/time.h>

#ifndef IPV6_MULTICAST_ALL
#define IPV6_MULTICAST_ALL 29
#endif

/* Packets read per readiness event before yielding back to the loop. */
#define RECV_BATCH 32

/* Metadata layout shared with libs/net/src/native.ts. */
#define META_SOURCE 0
#define META_DESTINATION 16
#define META_HOPLIMIT 32
#define META_IFINDEX 36
#define META_SIZE 40

typedef struct vrrp6_socket vrrp6_socket;

/* What the JavaScript handle points at. It outlives or predeceases the socket. */
typedef struct {
  vrrp6_socket *socket;
} vrrp6_box;

struct vrrp6_socket {
  int fd;
  int ifindex;
  int closing;
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_ref recv_buffer;
  napi_ref meta_buffer;
  uint8_t *recv_data;
  size_t recv_size;
  uint8_t *meta_data;
  napi_async_context async_context;
  napi_async_cleanup_hook_handle cleanup_hook;
  vrrp6_box *box;
};

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_throw_error(env, uv_err_name(-err), message);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
  return NULL;
}

static int get_int(napi_env env, napi_value value, int32_t *out) {
  return napi_get_value_int32(env, value, out) == napi_ok;
}

static int get_buffer(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  bool is_buffer = false;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer) return 0;
  return napi_get_buffer_info(env, value, (void **)data, length) == napi_ok;
}

static void write_le32(uint8_t *at, int32_t value) {
  uint32_t v = (uint32_t)value;
  at[0] = (uint8_t)(v & 0xff);
  at[1] = (uint8_t)((v >> 8) & 0xff);
  at[2] = (uint8_t)((v >> 16) & 0xff);
  at[3] = (uint8_t)((v >> 24) & 0xff);
}

/* ---------- AF_PACKET ---------- */

/*
 * One send-only AF_PACKET socket for the whole process, opened on first use and
 * kept: closing a packet socket waits for an RCU grace period in the kernel
 * (measured 8-16 ms), which blocked the event loop once per gratuitous ARP.
 * Protocol 0: it only sends, so the kernel queues nothing to it.
 */
static int packet_fd = -1;

static int packet_socket(void) {
  if (packet_fd < 0) packet_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  return packet_fd;
}

static napi_value packet_send(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t ifindex = 0;
  int32_t length = -1;
  uint8_t *frame = NULL;
  size_t frame_size = 0;
  napi_status status = napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (status != napi_ok || argc < 2) return throw_type(env, "packetSend(ifindex, frame[, length])");
  if (!get_int(env, argv[0], &ifindex) || ifindex <= 0) return throw_type(env, "ifindex must be a positive integer");
  if (!get_buffer(env, argv[1], &frame, &frame_size)) return throw_type(env, "frame must be a Buffer");
  if (argc >= 3 && !get_int(env, argv[2], &length)) return throw_type(env, "length must be an integer");
  if (length < 0 || (size_t)length > frame_size) length = (int32_t)frame_size;
  if (length < ETH_HLEN) return throw_type(env, "an Ethernet frame is at least 14 bytes");

  int err = 0;
  int fd = packet_socket();
  if (fd < 0) {
    err = errno;
  } else {
    struct sockaddr_ll to;
    memset(&to, 0, sizeof to);
    to.sll_family = AF_PACKET;
    to.sll_ifindex = ifindex;
    memcpy(&to.sll_protocol, frame + 12, 2);
    to.sll_halen = ETH_ALEN;
    memcpy(to.sll_addr, frame, ETH_ALEN);
    ssize_t sent = sendto(fd, frame, (size_t)length, 0, (struct sockaddr *)&to, sizeof to);
    if (sent < 0) err = errno;
    else if (sent != length) err = EMSGSIZE;
  }
  napi_value result;
  napi_create_int32(env, err, &result);
  return result;
}

/* ---------- synchronous rtnetlink request ---------- */

static int rtnl_fd = -1;

static int rtnl_socket(void) {
  if (rtnl_fd >= 0) return rtnl_fd;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -1;
  struct sockaddr_nl local;
  memset(&local, 0, sizeof local);
  local.nl_family = AF_NETLINK;
  /* A reply that never comes must not hang the agent: give up after 2 s. */
  struct timeval timeout = { 2, 0 };
  if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) < 0) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  rtnl_fd = fd;
  return fd;
}

/* rtnlAck(message) -> 0, or the errno the kernel (or the socket) answered. The message asks for an ACK. */
static napi_value rtnl_ack(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uint8_t *msg = NULL;
  size_t msg_size = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !get_buffer(env, argv[0], &msg, &msg_size) || msg_size < sizeof(struct nlmsghdr))
    return throw_type(env, "rtnlAck(message: Buffer)");
  const struct nlmsghdr *request = (const struct nlmsghdr *)msg;
  int err = 0;
  int fd = rtnl_socket();
  if (fd < 0) {
    err = errno;
  } else {
    struct sockaddr_nl kernel;
    memset(&kernel, 0, sizeof kernel);
    kernel.nl_family = AF_NETLINK;
    if (sendto(fd, msg, msg_size, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
      err = errno;
    } else {
      /* Read until our acknowledgement; anything else (a stale reply) is skipped. */
      uint8_t reply[8192];
      int done = 0;
      while (!done) {
        ssize_t n = recv(fd, reply, sizeof reply, 0);
        if (n < 0) {
          if (errno == EINTR) continue;
          err = errno;
          break;
        }
        for (struct nlmsghdr *h = (struct nlmsghdr *)reply; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
          if (h->nlmsg_seq != request->nlmsg_seq || h->nlmsg_type != NLMSG_ERROR) continue;
          const struct nlmsgerr *e = (const struct nlmsgerr *)NLMSG_DATA(h);
          err = e->error < 0 ? -e->error : 0;
          done = 1;
          break;
        }
      }
    }
  }
  napi_value result;
  napi_create_int32(env, err, &result);
  return result;
}

/* ---------- IPv4 send-only raw socket ---------- */

/* raw4Open(ifname, ifindex) -> fd. Throws with the errno name as code. */
static napi_value raw4_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char ifname[IF_NAMESIZE + 1];
  size_t name_len = 0;
  int32_t ifindex = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return throw_type(env, "raw4Open(ifname, ifindex)");
  if (!get_int(env, argv[1], &ifindex) || ifindex <= 0) return throw_type(env, "ifindex must be a positive integer");
  if (napi_get_value_string_utf8(env, argv[0], ifname, sizeof ifname, &name_len) != napi_ok || name_len == 0 || name_len >= IF_NAMESIZE)
    return throw_type(env, "ifname must be an interface name");
  int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 112);
  if (fd < 0) return throw_errno(env, "socket(AF_INET, SOCK_RAW, 112)", errno);
  /* Send only: a classic BPF program that accepts nothing, so no packet is ever queued to it. */
  struct sock_filter drop_all[] = { { BPF_RET | BPF_K, 0, 0, 0 } };
  struct sock_fprog prog = { 1, drop_all };
  int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0 ||
      setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &on, sizeof on) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "SO_ATTACH_FILTER/IP_HDRINCL", err);
  }
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)name_len) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "SO_BINDTODEVICE", err);
  }
  /* Our own multicast must not come back to our receive socket, and it leaves by our interface. */
  int off = 0;
  struct ip_mreqn mreq;
  memset(&mreq, 0, sizeof mreq);
  mreq.imr_ifindex = ifindex;
  if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &off, sizeof off) < 0 ||
      setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof mreq) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "IP_MULTICAST_LOOP/IP_MULTICAST_IF", err);
  }
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

/* raw4Send(fd, packet, length, destination4) -> 0 or errno. The packet starts with its IPv4 header. */
static napi_value raw4_send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t fd = -1, length = 0;
  uint8_t *packet = NULL, *dest = NULL;
  size_t packet_size = 0, dest_size = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) return throw_type(env, "raw4Send(fd, packet, length, destination)");
  if (!get_int(env, argv[0], &fd) || fd < 0) return throw_type(env, "fd must be a descriptor");
  if (!get_buffer(env, argv[1], &packet, &packet_size)) return throw_type(env, "packet must be a Buffer");
  if (!get_int(env, argv[2], &length) || length < 20 || (size_t)length > packet_size) return throw_type(env, "length must cover an IPv4 header and fit the buffer");
  if (!get_buffer(env, argv[3], &dest, &dest_size) || dest_size != 4) return throw_type(env, "destination must be 4 bytes");
  struct sockaddr_in to;
  memset(&to, 0, sizeof to);
  to.sin_family = AF_INET;
  memcpy(&to.sin_addr, dest, 4);
  int err = 0;
  ssize_t sent = sendto(fd, packet, (size_t)length, 0, (struct sockaddr *)&to, sizeof to);
  if (sent < 0) err = errno;
  else if (sent != length) err = EMSGSIZE;
  napi_value result;
  napi_create_int32(env, err, &result);
  return result;
}

/* raw4Close(fd) */
static napi_value raw4_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= 1 && get_int(env, argv[0], &fd) && fd >= 0) close(fd);
  return NULL;
}

/* ---------- IPv6 protocol 112 ---------- */

static void on_poll_closed(uv_handle_t *handle) {
  vrrp6_socket *s = (vrrp6_socket *)handle->data;
  if (s->box) s->box->socket = NULL;
  if (s->cleanup_hook) napi_remove_async_cleanup_hook(s->cleanup_hook);
  free(s);
}

/* Stops the poll and closes the descriptor; memory goes when libuv is done with the handle. */
static void begin_close(vrrp6_socket *s) {
  if (s->closing) return;
  s->closing = 1;
  uv_poll_stop(&s->poll);
  if (s->fd >= 0) {
    close(s->fd);
    s->fd = -1;
  }
  uv_close((uv_handle_t *)&s->poll, on_poll_closed);
}

/* The environment is going away with the socket still open (a worker ending, the process exiting). */
static void on_env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  vrrp6_socket *s = (vrrp6_socket *)arg;
  s->cleanup_hook = handle;
  begin_close(s);
}

static void release_js(vrrp6_socket *s) {
  napi_env env = s->env;
  if (s->callback) napi_delete_reference(env, s->callback);
  if (s->recv_buffer) napi_delete_reference(env, s->recv_buffer);
  if (s->meta_buffer) napi_delete_reference(env, s->meta_buffer);
  if (s->async_context) napi_async_destroy(env, s->async_context);
  s->callback = s->recv_buffer = s->meta_buffer = NULL;
  s->async_context = NULL;
}

static int call_js(vrrp6_socket *s, int32_t value) {
  napi_env env = s->env;
  napi_value callback, global, arg;
  if (napi_get_reference_value(env, s->callback, &callback) != napi_ok || callback == NULL) return 0;
  napi_get_global(env, &global);
  napi_create_int32(env, value, &arg);
  napi_status status = napi_make_callback(env, s->async_context, global, callback, 1, &arg, NULL);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    /* The same path as an exception thrown in any Node callback: 'uncaughtException'. */
    napi_fatal_exception(env, error);
    return 0;
  }
  return status == napi_ok;
}

static void read_packets(vrrp6_socket *s) {
  union {
    struct cmsghdr align;
    char buffer[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct in6_pktinfo)) + 64];
  } control;
  for (int i = 0; i < RECV_BATCH && !s->closing; i++) {
    struct sockaddr_in6 from;
    struct iovec iov = { .iov_base = s->recv_data, .iov_len = s->recv_size };
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buffer;
    msg.msg_controllen = sizeof control.buffer;
    ssize_t n = recvmsg(s->fd, &msg, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      call_js(s, -errno);
      return;
    }
    if (msg.msg_flags & MSG_TRUNC) {
      call_js(s, -EMSGSIZE);
      continue;
    }
    int hoplimit = -1;
    int ifindex = 0;
    const uint8_t *destination = NULL;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != IPPROTO_IPV6) continue;
      if (c->cmsg_type == IPV6_HOPLIMIT && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
        memcpy(&hoplimit, CMSG_DATA(c), sizeof hoplimit);
      } else if (c->cmsg_type == IPV6_PKTINFO && c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
        struct in6_pktinfo pktinfo;
        memcpy(&pktinfo, CMSG_DATA(c), sizeof pktinfo);
        memcpy(s->meta_data + META_DESTINATION, &pktinfo.ipi6_addr, 16);
        destination = s->meta_data + META_DESTINATION;
        ifindex = (int)pktinfo.ipi6_ifindex;
      }
    }
    memcpy(s->meta_data + META_SOURCE, &from.sin6_addr, 16);
    if (destination == NULL) memset(s->meta_data + META_DESTINATION, 0, 16);
    write_le32(s->meta_data + META_HOPLIMIT, hoplimit);
    write_le32(s->meta_data + META_IFINDEX, ifindex ? ifindex : s->ifindex);
    if (!call_js(s, (int32_t)n)) return;
  }
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  vrrp6_socket *s = (vrrp6_socket *)handle->data;
  if (s->closing) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(s->env, &scope) != napi_ok) return;
  if (status < 0) call_js(s, status);
  else if (events & UV_READABLE) read_packets(s);
  napi_close_handle_scope(s->env, scope);
}

static int set_int_option(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof value);
}

static void finalize_box(napi_env env, void *data, void *hint) {
  vrrp6_box *box = (vrrp6_box *)data;
  if (box->socket) box->socket->box = NULL;
  free(box);
}

static vrrp6_socket *unwrap(napi_env env, napi_value handle) {
  vrrp6_box *box = NULL;
  if (napi_get_value_external(env, handle, (void **)&box) != napi_ok || box == NULL) return NULL;
  return box->socket;
}

/* vrrp6Open(ifindex, ifname, recvBuffer, metaBuffer, onPacket) -> handle */
static napi_value vrrp6_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  int32_t ifindex = 0;
  char ifname[IF_NAMESIZE + 1];
  size_t ifname_length = 0;
  uint8_t *recv_data, *meta_data;
  size_t recv_size, meta_size;
  napi_valuetype type;

  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5)
    return throw_type(env, "vrrp6Open(ifindex, ifname, recvBuffer, metaBuffer, onPacket)");
  if (!get_int(env, argv[0], &ifindex) || ifindex <= 0) return throw_type(env, "ifindex must be a positive integer");
  if (napi_get_value_string_utf8(env, argv[1], ifname, sizeof ifname, &ifname_length) != napi_ok || ifname_length == 0 ||
      ifname_length >= IF_NAMESIZE)
    return throw_type(env, "ifname must be an interface name");
  if (!get_buffer(env, argv[2], &recv_data, &recv_size) || recv_size < 64) return throw_type(env, "recvBuffer must be a Buffer");
  if (!get_buffer(env, argv[3], &meta_data, &meta_size) || meta_size < META_SIZE)
    return throw_type(env, "metaBuffer must be a Buffer of at least 40 bytes");
  if (napi_typeof(env, argv[4], &type) != napi_ok || type != napi_function) return throw_type(env, "onPacket must be a function");

  int fd = socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 112);
  if (fd < 0) return throw_errno(env, "socket(AF_INET6, SOCK_RAW, 112)", errno);

  /* Each option as keepalived's IPv6 VRRP socket has it, except IPV6_CHECKSUM:
   * the VRRP checksum is computed and checked by our codec, so the kernel must
   * neither write it nor drop packets whose checksum it dislikes. */
  struct {
    const char *name;
    int level, option, value;
  } options[] = {
    { "IPV6_RECVHOPLIMIT", IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1 },
    { "IPV6_RECVPKTINFO", IPPROTO_IPV6, IPV6_RECVPKTINFO, 1 },
    { "IPV6_MULTICAST_HOPS", IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 255 },
    { "IPV6_UNICAST_HOPS", IPPROTO_IPV6, IPV6_UNICAST_HOPS, 255 },
    { "IPV6_MULTICAST_LOOP", IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0 },
    { "IPV6_MULTICAST_IF", IPPROTO_IPV6, IPV6_MULTICAST_IF, ifindex },
  };
  for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
    if (set_int_option(fd, options[i].level, options[i].option, options[i].value) < 0) {
      int err = errno;
      close(fd);
      return throw_errno(env, options[i].name, err);
    }
  }
  /* Only the groups this socket joined: without it a raw socket also gets
   * protocol 112 sent to any group another socket (or the kernel: ff02::1) joined. */
  if (set_int_option(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0) < 0 && errno != ENOPROTOOPT) {
    int err = errno;
    close(fd);
    return throw_errno(env, "IPV6_MULTICAST_ALL", err);
  }
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)ifname_length) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "SO_BINDTODEVICE", err);
  }

  vrrp6_socket *s = calloc(1, sizeof *s);
  vrrp6_box *box = calloc(1, sizeof *box);
  if (s == NULL || box == NULL) {
    free(s);
    free(box);
    close(fd);
    return throw_errno(env, "vrrp6Open", ENOMEM);
  }
  s->fd = fd;
  s->ifindex = ifindex;
  s->env = env;
  s->recv_data = recv_data;
  s->recv_size = recv_size;
  s->meta_data = meta_data;
  s->box = box;
  box->socket = s;

  uv_loop_t *loop = NULL;
  int rc = napi_get_uv_event_loop(env, &loop) == napi_ok ? uv_poll_init_socket(loop, &s->poll, fd) : UV_EINVAL;
  if (rc != 0) {
    free(s);
    free(box);
    close(fd);
    return throw_errno(env, "uv_poll_init_socket", -rc);
  }
  s->poll.data = s;

  napi_value resource, resource_name, handle;
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, "keepquorum.vrrp6", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, resource, resource_name, &s->async_context);
  napi_create_reference(env, argv[4], 1, &s->callback);
  napi_create_reference(env, argv[2], 1, &s->recv_buffer);
  napi_create_reference(env, argv[3], 1, &s->meta_buffer);
  napi_add_async_cleanup_hook(env, on_env_cleanup, s, &s->cleanup_hook);

  rc = uv_poll_start(&s->poll, UV_READABLE, on_poll);
  if (rc != 0) {
    release_js(s);
    begin_close(s);
    return throw_errno(env, "uv_poll_start", -rc);
  }
  if (napi_create_external(env, box, finalize_box, NULL, &handle) != napi_ok) {
    release_js(s);
    s->box = NULL;
    free(box);
    begin_close(s);
    return throw_errno(env, "vrrp6Open", ENOMEM);
  }
  return handle;
}

static int parse_group(napi_env env, napi_value value, struct ipv6_mreq *request, int ifindex) {
  uint8_t *data;
  size_t size;
  if (!get_buffer(env, value, &data, &size) || size != 16) return 0;
  memset(request, 0, sizeof *request);
  memcpy(&request->ipv6mr_multiaddr, data, 16);
  request->ipv6mr_interface = (unsigned)ifindex;
  return 1;
}

/* vrrp6Join(handle, group16) / vrrp6Leave(handle, group16): throw on failure. */
static napi_value membership(napi_env env, napi_callback_info info, int option, const char *what) {
  size_t argc = 2;
  napi_value argv[2];
  struct ipv6_mreq request;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return throw_type(env, "(handle, group)");
  vrrp6_socket *s = unwrap(env, argv[0]);
  if (s == NULL || s->closing) return throw_errno(env, what, EBADF);
  if (!parse_group(env, argv[1], &request, s->ifindex)) return throw_type(env, "group must be a 16-byte Buffer");
  if (setsockopt(s->fd, IPPROTO_IPV6, option, &request, sizeof request) < 0) return throw_errno(env, what, errno);
  return NULL;
}

static napi_value vrrp6_join(napi_env env, napi_callback_info info) {
  return membership(env, info, IPV6_ADD_MEMBERSHIP, "IPV6_ADD_MEMBERSHIP");
}

static napi_value vrrp6_leave(napi_env env, napi_callback_info info) {
  return membership(env, info, IPV6_DROP_MEMBERSHIP, "IPV6_DROP_MEMBERSHIP");
}

/* vrrp6Send(handle, payload, length, destination16, source16 | null) -> 0 or errno */
static napi_value vrrp6_send(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  uint8_t *payload, *destination, *source = NULL;
  size_t payload_size, destination_size, source_size = 0;
  int32_t length = 0;
  napi_valuetype source_type = napi_null;
  int err = 0;

  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4)
    return throw_type(env, "vrrp6Send(handle, payload, length, destination[, source])");
  vrrp6_socket *s = unwrap(env, argv[0]);
  if (!get_buffer(env, argv[1], &payload, &payload_size)) return throw_type(env, "payload must be a Buffer");
  if (!get_int(env, argv[2], &length) || length < 0 || (size_t)length > payload_size) return throw_type(env, "length out of range");
  if (!get_buffer(env, argv[3], &destination, &destination_size) || destination_size != 16)
    return throw_type(env, "destination must be a 16-byte Buffer");
  if (argc >= 5) napi_typeof(env, argv[4], &source_type);
  if (source_type != napi_null && source_type != napi_undefined) {
    if (!get_buffer(env, argv[4], &source, &source_size) || source_size != 16) return throw_type(env, "source must be a 16-byte Buffer or null");
  }

  if (s == NULL || s->closing) {
    err = EBADF;
  } else {
    struct sockaddr_in6 to;
    memset(&to, 0, sizeof to);
    to.sin6_family = AF_INET6;
    memcpy(&to.sin6_addr, destination, 16);
    if (IN6_IS_ADDR_LINKLOCAL(&to.sin6_addr) || IN6_IS_ADDR_MC_LINKLOCAL(&to.sin6_addr)) to.sin6_scope_id = (uint32_t)s->ifindex;
    struct iovec iov = { .iov_base = payload, .iov_len = (size_t)length };
    union {
      struct cmsghdr align;
      char buffer[CMSG_SPACE(sizeof(struct in6_pktinfo))];
    } control;
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_name = &to;
    msg.msg_namelen = sizeof to;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (source != NULL) {
      /* The source address chosen per packet, as keepalived does (IPV6_PKTINFO). */
      memset(&control, 0, sizeof control);
      msg.msg_control = control.buffer;
      msg.msg_controllen = sizeof control.buffer;
      struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
      struct in6_pktinfo pktinfo;
      memset(&pktinfo, 0, sizeof pktinfo);
      memcpy(&pktinfo.ipi6_addr, source, 16);
      pktinfo.ipi6_ifindex = (unsigned)s->ifindex;
      memcpy(CMSG_DATA(c), &pktinfo, sizeof pktinfo);
    }
    ssize_t sent = sendmsg(s->fd, &msg, MSG_DONTWAIT);
    if (sent < 0) err = errno;
    else if (sent != length) err = EMSGSIZE;
  }
  napi_value result;
  napi_create_int32(env, err, &result);
  return result;
}

/* vrrp6Close(handle): idempotent. */
static napi_value vrrp6_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return throw_type(env, "vrrp6Close(handle)");
  vrrp6_socket *s = unwrap(env, argv[0]);
  if (s != NULL && !s->closing) {
    release_js(s);
    begin_close(s);
  }
  return NULL;
}

/* vrrp6Ref(handle, keepsLoopAlive) */
static napi_value vrrp6_ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  bool ref = true;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return throw_type(env, "vrrp6Ref(handle, ref)");
  napi_get_value_bool(env, argv[1], &ref);
  vrrp6_socket *s = unwrap(env, argv[0]);
  if (s != NULL && !s->closing) {
    if (ref) uv_ref((uv_handle_t *)&s->poll);
    else uv_unref((uv_handle_t *)&s->poll);
  }
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
    { "packetSend", NULL, packet_send, NULL, NULL, NULL, napi_enumerable, NULL },
    { "rtnlAck", NULL, rtnl_ack, NULL, NULL, NULL, napi_enumerable, NULL },
    { "raw4Open", NULL, raw4_open, NULL, NULL, NULL, napi_enumerable, NULL },
    { "raw4Send", NULL, raw4_send, NULL, NULL, NULL, napi_enumerable, NULL },
    { "raw4Close", NULL, raw4_close, NULL, NULL, NULL, napi_enumerable, NULL },
    { "vrrp6Open", NULL, vrrp6_open, NULL, NULL, NULL, napi_enumerable, NULL },
    { "vrrp6Join", NULL, vrrp6_join, NULL, NULL, NULL, napi_enumerable, NULL },
    { "vrrp6Leave", NULL, vrrp6_leave, NULL, NULL, NULL, napi_enumerable, NULL },
    { "vrrp6Send", NULL, vrrp6_send, NULL, NULL, NULL, napi_enumerable, NULL },
    { "vrrp6Close", NULL, vrrp6_close, NULL, NULL, NULL, napi_enumerable, NULL },
    { "vrrp6Ref", NULL, vrrp6_ref, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  napi_value meta_size;
  napi_create_int32(env, META_SIZE, &meta_size);
  napi_set_named_property(env, exports, "META_SIZE", meta_size);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
