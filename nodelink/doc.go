// Package nodelink is the kernel–node transport: one QUIC connection per node, joined
// with a token and then authenticated by mutual TLS, carrying framed, versioned
// messages on many streams. PROTOCOL.md is the wire specification.
//
// The kernel runs a Server; a node agent calls Dial and gets a Client that keeps the
// link up. Nothing here knows about Pods or the store: the kernel plugs in a WatchSource
// and liveness hooks, the node agent registers StreamHandlers and calls Client.Watch.
//
// Why it is built this way:
//
//   - QUIC, not gRPC over TCP: streams are independent, so one slow log stream or a
//     rejected oversized message never stalls a node's watches, and the kernel can open
//     streams back to a node that dialled out through NAT.
//   - Join by token, then client certificates: the token is a bootstrap secret used
//     once; after that the connection's identity is the certificate (CN
//     system:node:<name>, O system:nodes, as kubelets have), checked by TLS itself.
//     Join and mutual TLS share one port; the ALPN picks whether a client certificate
//     is required.
//   - CA pinning by fingerprint: a fresh node has no trust anchor, and the token must
//     not be sent to a server that merely claims to be the kernel. The join file's
//     fingerprint is the anchor, checked before anything is sent.
//   - Short-lived certificates rotated over the authenticated link: rotation needs no
//     token, and a connection is closed when its certificate expires, so expiry is real
//     revocation. Rotation makes the new connection before breaking the old.
//   - The node tracks revisions, the kernel does not track nodes' progress: after any
//     reconnect the node asks again from its last revision, so a flapping link costs no
//     relist. Compaction is a distinct error so the node knows when it must relist.
//   - A size limit per message, checked before allocating: a peer cannot make the other
//     side allocate arbitrary memory, and exceeding it ends only the stream concerned.
//   - Liveness is the application's heartbeats: 3 missed ones cut a node, whether it
//     vanished or its agent is stuck while its QUIC stack lives (6-6.5 s, inside a 15 s
//     NotReady budget). QUIC's idle timeout (10 s) tells a node the kernel is gone;
//     keep-alives never fire while heartbeats flow. While the link lags (its socket
//     drops or queues, its sweeps run late, many nodes fall silent at once), a silent
//     node gets four times longer (lag.go): the kernel may be why it sounds silent.
//   - Node writes travel on node-opened request streams, one request and one response
//     each, so a slow write never holds a watch and the kernel's handler needs no
//     second connection or credential (ServerConfig.Request, Client.Request).
//   - Control messages are JSON (rare, easy to debug); events are binary (hot path), and
//     the server batches queued events into one stream write.
package nodelink
