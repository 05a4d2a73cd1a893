package io.silo.dev.mongo;

import java.net.InetSocketAddress;
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.util.concurrent.DefaultThreadFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loopback TCP proxy that speaks the MongoDB wire protocol and translates binary subtypes between a client and mongo-java-server.
 *
 * <p>Each client connection gets its own backend connection on the same event loop, so a frame is translated and
 * forwarded without a thread hop. Backpressure is end-to-end: a side stops reading while the opposite socket is not
 * writable, so a fast writer cannot make the proxy buffer without bound.
 */
public final class WireTranslatingProxy implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(WireTranslatingProxy.class);

    /** Above MongoDB's 48 MB message limit, plus room for the 12 bytes each wrapped binary gains. */
    private static final int MAX_FRAME = 64 * 1024 * 1024;

    private final EventLoopGroup group;
    private final Channel serverChannel;
    private final InetSocketAddress backend;

    private WireTranslatingProxy(EventLoopGroup group, Channel serverChannel, InetSocketAddress backend) {
        this.group = group;
        this.serverChannel = serverChannel;
        this.backend = backend;
    }

    /** Binds {@code host:port} (0 = ephemeral) and forwards every connection to {@code backend}. */
    public static WireTranslatingProxy start(String host, int port, InetSocketAddress backend) {
        // Two threads: the machine has few cores, and per-frame work is small.
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(2, new DefaultThreadFactory("silo-dev-mongo-proxy", true),
                NioIoHandler.newFactory());
        try {
            ServerBootstrap bootstrap = new ServerBootstrap()
                    .group(group)
                    .channel(NioServerSocketChannel.class)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childOption(ChannelOption.AUTO_READ, false)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel client) {
                            client.pipeline().addLast(frameDecoder());
                            client.pipeline().addLast(new ClientSide(backend));
                        }
                    });
            Channel channel = bootstrap.bind(host, port).syncUninterruptibly().channel();
            return new WireTranslatingProxy(group, channel, backend);
        } catch (RuntimeException e) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            throw e;
        }
    }

    /** The port clients connect to. */
    public int port() {
        return ((InetSocketAddress) serverChannel.localAddress()).getPort();
    }

    /** The address of the server behind the proxy. */
    public InetSocketAddress backend() {
        return backend;
    }

    @Override
    public void close() {
        serverChannel.close().syncUninterruptibly();
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }

    private static LengthFieldBasedFrameDecoder frameDecoder() {
        // messageLength is little-endian and counts itself; frames are emitted whole, header included.
        return new LengthFieldBasedFrameDecoder(ByteOrder.LITTLE_ENDIAN, MAX_FRAME, 0, 4, -4, 0, true);
    }

    /** Handler on the client-facing channel. */
    private static final class ClientSide extends ChannelInboundHandlerAdapter {
        private final InetSocketAddress backendAddress;
        private Channel backendChannel;

        ClientSide(InetSocketAddress backendAddress) {
            this.backendAddress = backendAddress;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            Channel client = ctx.channel();
            ChannelFuture connect = new Bootstrap()
                    .group(client.eventLoop())
                    .channel(NioSocketChannel.class)
                    .option(ChannelOption.TCP_NODELAY, true)
                    .option(ChannelOption.AUTO_READ, false)
                    .handler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(frameDecoder());
                            ch.pipeline().addLast(new Forwarder(client, BinarySubtypeCodec.Direction.TO_CLIENT));
                        }
                    })
                    .connect(backendAddress);
            backendChannel = connect.channel();
            connect.addListener((ChannelFutureListener) f -> {
                if (f.isSuccess()) {
                    client.pipeline().addLast(new Forwarder(backendChannel, BinarySubtypeCodec.Direction.TO_BACKEND));
                    client.read();
                    backendChannel.read();
                } else {
                    LOG.warn("Dev Mongo proxy could not reach backend {}: {}", backendAddress, f.cause().toString());
                    client.close();
                }
            });
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            // Covers a client that leaves before the backend connection is up (the Forwarder is not installed yet).
            if (backendChannel != null) {
                backendChannel.close();
            }
            ctx.fireChannelInactive();
        }
    }

    /** Translates frames read on one channel and writes them to its peer. */
    private static final class Forwarder extends ChannelInboundHandlerAdapter {
        private final Channel peer;
        private final BinarySubtypeCodec.Direction direction;

        Forwarder(Channel peer, BinarySubtypeCodec.Direction direction) {
            this.peer = peer;
            this.direction = direction;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf frame = (ByteBuf) msg;
            ByteBuf out;
            try {
                out = WireMessageTranslator.translate(frame, direction, ctx.alloc());
            } catch (WireMessageTranslator.UnsupportedWireMessageException e) {
                LOG.error("Dev Mongo proxy closes connection {}: {}", ctx.channel().remoteAddress(), e.getMessage());
                frame.release();
                closeBoth(ctx);
                return;
            } catch (RuntimeException e) {
                // Never log document contents: they may carry plaintext or key material.
                LOG.error("Dev Mongo proxy could not translate a {}-byte message; closing connection: {}",
                        frame.readableBytes(), e.toString());
                frame.release();
                closeBoth(ctx);
                return;
            }
            if (out != frame) {
                frame.release();
            }
            peer.write(out);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            peer.flush();
            if (peer.isWritable()) {
                ctx.channel().read();
            }
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            // Our own channel drained: resume reading from the peer that feeds it.
            if (ctx.channel().isWritable()) {
                peer.read();
            }
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (peer.isActive()) {
                peer.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            LOG.debug("Dev Mongo proxy connection error: {}", cause.toString());
            closeBoth(ctx);
        }

        private void closeBoth(ChannelHandlerContext ctx) {
            ctx.channel().close();
            peer.close();
        }
    }
}
