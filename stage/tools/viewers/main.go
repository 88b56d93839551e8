// livekit-viewers: the remote audience of a LiveKit room, as light as a viewer
// can be. It joins N identities with LiveKit's Go SDK, subscribes to every
// track, and reads RTP without decoding it (as LiveKit's own load tester
// does), so that hundreds of viewers fit beside the server on one machine.
//
// It writes JSON lines on stdout, one for each stage:
//
//	{"event": "joined", "joined": N, "failed": [{"identity": ..., "reason": ...}], "seconds": S}
//	{"event": "window", "seconds": W}   (the counting starts now)
//	{"event": "result", "seconds": W, "viewers": [...], "failed": [...]}
//
// Each viewer in the result gives, for the window: packets, bytes, video
// frames (RTP marker bits), frames per second per video track, and the
// packets lost (sequence numbers never seen). Built by `make livekit-server`.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/livekit/protocol/logger"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
)

// counts of one viewer, over all its tracks.
type counts struct {
	Packets  uint64 `json:"packets"`
	Bytes    uint64 `json:"bytes"`
	Frames   uint64 `json:"frames"`
	Expected uint64 `json:"expected"`
	Lost     uint64 `json:"lost"`
}

type viewer struct {
	identity string
	room     *lksdk.Room
	mu       sync.Mutex
	total    counts
	video    int // video tracks subscribed
	gone     string
}

func (v *viewer) snapshot() (counts, int, string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.total, v.video, v.gone
}

// read takes every packet of one track until it ends, counting what arrived
// and, from the sequence numbers, what did not.
func (v *viewer) read(track *webrtc.TrackRemote) {
	isVideo := track.Kind() == webrtc.RTPCodecTypeVideo
	if isVideo {
		v.mu.Lock()
		v.video++
		v.mu.Unlock()
	}
	var last uint16
	started := false
	for {
		packet, _, err := track.ReadRTP()
		if err != nil {
			return
		}
		v.mu.Lock()
		v.total.Packets++
		v.total.Bytes += uint64(len(packet.Payload))
		if isVideo && packet.Marker {
			v.total.Frames++
		}
		step := packet.SequenceNumber - last // wraps as the 16-bit counter does
		switch {
		case !started:
			v.total.Expected++
			started = true
			last = packet.SequenceNumber
		case step > 0 && step < 0x8000: // ahead: a gap of step-1 missing so far
			v.total.Expected += uint64(step)
			v.total.Lost += uint64(step - 1)
			last = packet.SequenceNumber
		default: // late or repeated: it filled a gap counted as lost
			if v.total.Lost > 0 {
				v.total.Lost--
			}
		}
		v.mu.Unlock()
	}
}

type failure struct {
	Identity string `json:"identity"`
	Reason   string `json:"reason"`
}

// reason is a join's error in one short line (a wrong secret's error quotes the whole token).
func reason(err error) string {
	text := err.Error()
	if strings.Contains(text, "invalid token") {
		return "unauthorized: the server refused the token (wrong API key or secret?)"
	}
	if len(text) > 200 {
		text = text[:200] + "..."
	}
	return text
}

func emit(line map[string]any) {
	out, _ := json.Marshal(line)
	fmt.Println(string(out))
}

func main() {
	url := flag.String("url", os.Getenv("LIVEKIT_URL"), "the LiveKit server (ws://...)")
	key := flag.String("key", os.Getenv("LIVEKIT_API_KEY"), "API key")
	secret := flag.String("secret", os.Getenv("LIVEKIT_API_SECRET"), "API secret")
	room := flag.String("room", "fireside-demo", "the room to watch")
	n := flag.Int("viewers", 1, "how many viewers join")
	prefix := flag.String("prefix", "light-viewer", "identities are PREFIX-0, PREFIX-1, ...")
	concurrency := flag.Int("concurrency", 8, "joins at once")
	tries := flag.Int("tries", 3, "attempts per viewer before its join counts as failed")
	timeout := flag.Duration("timeout", 20*time.Second, "one join attempt's limit")
	settle := flag.Duration("settle", 3*time.Second, "wait after the joins before counting")
	window := flag.Duration("window", 8*time.Second, "how long to count")
	flag.Parse()
	if *url == "" || *key == "" || *secret == "" {
		fmt.Fprintln(os.Stderr, "livekit-viewers: give --url, --key and --secret (or LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET)")
		os.Exit(2)
	}
	lksdk.SetLogger(logger.GetDiscardLogger()) // each failure is in the JSON, once

	started := time.Now()
	viewers := make([]*viewer, *n)
	failed := []failure{}
	var failedMu sync.Mutex
	slots := make(chan struct{}, max(1, *concurrency))
	var joins sync.WaitGroup
	for i := range viewers {
		v := &viewer{identity: fmt.Sprintf("%s-%d", *prefix, i)}
		viewers[i] = v
		joins.Add(1)
		go func() {
			defer joins.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			var err error
			for attempt := 0; attempt < max(1, *tries); attempt++ {
				callback := lksdk.NewRoomCallback()
				callback.OnTrackSubscribed = func(track *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, _ *lksdk.RemoteParticipant) {
					go v.read(track)
				}
				callback.OnDisconnectedWithReason = func(reason lksdk.DisconnectionReason) {
					v.mu.Lock()
					v.gone = string(reason)
					v.mu.Unlock()
				}
				v.room, err = lksdk.ConnectToRoom(*url, lksdk.ConnectInfo{
					APIKey: *key, APISecret: *secret, RoomName: *room, ParticipantIdentity: v.identity,
				}, callback, lksdk.WithAutoSubscribe(true), lksdk.WithConnectTimeout(*timeout))
				if err == nil {
					return
				}
				time.Sleep(time.Duration(attempt+1) * 500 * time.Millisecond)
			}
			v.room = nil
			failedMu.Lock()
			failed = append(failed, failure{v.identity, reason(err)})
			failedMu.Unlock()
		}()
	}
	joins.Wait()
	joined := []*viewer{}
	for _, v := range viewers {
		if v.room != nil {
			joined = append(joined, v)
		}
	}
	emit(map[string]any{"event": "joined", "joined": len(joined), "failed": failed, "seconds": time.Since(started).Seconds()})

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	leave := func() {
		var wg sync.WaitGroup
		for _, v := range joined {
			wg.Add(1)
			go func() { defer wg.Done(); v.room.Disconnect() }()
		}
		wg.Wait()
	}
	select {
	case <-stop:
		leave()
		return
	case <-time.After(*settle):
	}

	before := make([]counts, len(joined))
	for i, v := range joined {
		before[i], _, _ = v.snapshot()
	}
	emit(map[string]any{"event": "window", "seconds": window.Seconds()})
	counting := time.Now()
	select {
	case <-stop:
		leave()
		return
	case <-time.After(*window):
	}
	took := time.Since(counting).Seconds()
	results := []map[string]any{}
	for i, v := range joined {
		now, video, gone := v.snapshot()
		c := counts{
			Packets: now.Packets - before[i].Packets, Bytes: now.Bytes - before[i].Bytes,
			Frames: now.Frames - before[i].Frames, Expected: now.Expected - before[i].Expected,
		}
		if now.Lost > before[i].Lost {
			c.Lost = now.Lost - before[i].Lost
		}
		fps := 0.0
		if video > 0 {
			fps = float64(c.Frames) / took / float64(video)
		}
		results = append(results, map[string]any{
			"identity": v.identity, "packets": c.Packets, "bytes": c.Bytes, "frames": c.Frames,
			"expected": c.Expected, "lost": c.Lost, "video_tracks": video, "fps": fps, "disconnected": gone,
		})
	}
	emit(map[string]any{"event": "result", "seconds": took, "viewers": results, "failed": failed})
	leave()
}
