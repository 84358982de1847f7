package awskms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/keyaudit/keyaudit/inventory"
)

// Limits on what one region may make the source hold.
const (
	// maxKeys bounds the keys listed in one region (AWS's default quota
	// is 100,000 customer managed keys per region).
	maxKeys = 200_000
	// maxTagPages bounds the ListResourceTags pages read per key (AWS
	// allows 50 tags per key).
	maxTagPages = 10
	// pageSize is the Limit of ListKeys requests (AWS's maximum).
	pageSize = 1000
)

// Config is one AWS KMS source. Its zero value is invalid: Region is
// required.
type Config struct {
	// Region is the AWS region listed (the host of awskms://REGION).
	Region string
	// Endpoint overrides the KMS endpoint (http(s)://host[:port]), for an
	// emulator or a VPC endpoint; "" is AWS's endpoint for the region.
	Endpoint string
	// HTTPClient sends the requests; nil is the SDK's. Tests give one
	// that dials loopback only.
	HTTPClient *http.Client
	// Log receives debug events (never credentials); nil discards.
	Log *slog.Logger
}

// Source lists the keys of one region.
type Source struct {
	cfg    Config
	client *kms.Client
	log    *slog.Logger
	closed atomic.Bool
	// pageSize is the Limit of ListKeys requests (tests make it small).
	pageSize int32
}

// Open checks cfg, loads credentials from the standard AWS chain (never
// from anything else) and fails fast when there are none: bad input.
func Open(ctx context.Context, cfg Config) (*Source, error) {
	if !regionRE.MatchString(cfg.Region) {
		return nil, inventory.Input(fmt.Errorf("awskms: %q is not a region name", cfg.Region))
	}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return nil, inventory.Input(errors.New("awskms: endpoint: want http(s)://host[:port]"))
		}
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(cfg.Region)}
	if cfg.HTTPClient != nil {
		opts = append(opts, awsconfig.WithHTTPClient(cfg.HTTPClient))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, inventory.Input(fmt.Errorf("awskms: AWS configuration: %w", err))
	}
	if awsCfg.Credentials == nil {
		return nil, inventory.Input(errors.New("awskms: no AWS credentials (environment, profile or web identity)"))
	}
	if _, err := awsCfg.Credentials.Retrieve(ctx); err != nil {
		return nil, inventory.Input(fmt.Errorf("awskms: no AWS credentials (environment, profile or web identity): %w", err))
	}
	client := kms.NewFromConfig(awsCfg, func(o *kms.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return &Source{cfg: cfg, client: client, log: log, pageSize: pageSize}, nil
}

// Name is awskms://REGION, with the endpoint when it is overridden.
func (s *Source) Name() string {
	n := Scheme + "://" + s.cfg.Region
	if s.cfg.Endpoint != "" {
		n += " (" + s.cfg.Endpoint + ")"
	}
	return n
}

// ErrClosed is returned by Keys after Close.
var ErrClosed = errors.New("awskms: source closed")

// Close marks the source closed; the client holds only idle connections.
// Closing twice is fine.
func (s *Source) Close() error {
	s.closed.Store(true)
	return nil
}

// Keys lists the region's keys in key-id order. A failing ListKeys or
// DescribeKey stops the listing; a refused rotation status, tag list or
// public key is a warning on that key.
func (s *Source) Keys(ctx context.Context, emit func(inventory.Key) error) inventory.Result {
	res := inventory.Result{Source: s.Name()}
	if s.closed.Load() {
		return res.Finish(ErrClosed)
	}
	ids, err := s.list(ctx)
	if err != nil {
		return res.Finish(err)
	}
	refs := inventory.Refs{}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return res.Finish(err)
		}
		k, warns, err := s.key(ctx, id)
		if err != nil {
			return res.Finish(err)
		}
		res.Warnings = append(res.Warnings, warns...)
		// A key id is unique and the public key may become unreadable
		// (pending deletion): the ref leaves the fingerprint out, so the
		// key keeps its ref, and the estate its history, across states.
		k.Ref = refs.Unique(inventory.MakeRef(k.Token, k.Class, k.ID, k.Label, ""))
		k.Normalize()
		if err := emit(k); err != nil {
			return res.Finish(err)
		}
		res.Keys++
	}
	return res.Finish(nil)
}

// list returns the ids of every key of the region, sorted.
func (s *Source) list(ctx context.Context) ([]string, error) {
	var ids []string
	p := kms.NewListKeysPaginator(s.client, &kms.ListKeysInput{Limit: aws.Int32(s.pageSize)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("awskms: ListKeys: %w", err)
		}
		for _, e := range page.Keys {
			if e.KeyId != nil {
				ids = append(ids, *e.KeyId)
			}
		}
		if len(ids) > maxKeys {
			return nil, fmt.Errorf("awskms: ListKeys: more than %d keys", maxKeys)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// key describes one key and reads its rotation status, tags and public
// key.
func (s *Source) key(ctx context.Context, id string) (inventory.Key, []string, error) {
	d, err := s.client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
	if err != nil {
		return inventory.Key{}, nil, fmt.Errorf("awskms: DescribeKey %s: %w", id, err)
	}
	if d.KeyMetadata == nil {
		return inventory.Key{}, nil, fmt.Errorf("awskms: DescribeKey %s: no metadata", id)
	}
	m := d.KeyMetadata
	k := fromMetadata(m)
	var warns []string
	warn := func(op string, err error) {
		s.log.Debug("awskms: key call refused", "key", k.URI, "op", op, "err", err)
		warns = append(warns, fmt.Sprintf("%s: %s: %v", k.URI, op, err))
	}

	if rotatable(m) {
		r, err := s.client.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: aws.String(id)})
		if err != nil {
			warn("GetKeyRotationStatus", err)
		} else {
			k.Rotation = inventory.Bool(r.KeyRotationEnabled)
		}
	}

	if m.KeyManager == types.KeyManagerTypeAws {
		// AWS managed keys take no tags; AWS owns and rotates them.
		k.Owner = "aws"
	} else if tags, err := s.tags(ctx, id); err != nil {
		warn("ListResourceTags", err)
	} else {
		applyTags(&k, tags)
	}

	if k.Class != inventory.ClassSecretKey {
		switch pk, err := s.client.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(id)}); {
		case err != nil && strings.HasPrefix(k.State, "pending_") && strings.HasSuffix(k.State, "deletion"):
			// AWS refuses GetPublicKey for a key pending deletion, as
			// expected: the estate keeps the fingerprint of an earlier read.
			k.AddNote("public key not readable while %s", k.State)
		case err != nil:
			warn("GetPublicKey", err)
			k.AddNote("public key not readable: %v", err)
		default:
			setPublicKey(&k, pk.PublicKey)
		}
	}
	return k, warns, nil
}

// tags reads every tag of a key. An untagged key may come back as an
// empty list or as "Tags": null (local-kms): both are no tags.
func (s *Source) tags(ctx context.Context, id string) (map[string]string, error) {
	tags := map[string]string{}
	in := &kms.ListResourceTagsInput{KeyId: aws.String(id), Limit: aws.Int32(50)}
	for range maxTagPages {
		out, err := s.client.ListResourceTags(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, t := range out.Tags {
			if t.TagKey != nil {
				tags[*t.TagKey] = aws.ToString(t.TagValue)
			}
		}
		if !out.Truncated || out.NextMarker == nil {
			return tags, nil
		}
		in.Marker = out.NextMarker
	}
	return tags, fmt.Errorf("more than %d pages of tags", maxTagPages)
}

// rotatable reports whether AWS rotates this kind of key automatically:
// symmetric encryption keys whose material KMS generated. Emulators
// answer for other keys too; their answer is not asked for.
func rotatable(m *types.KeyMetadata) bool {
	return m.KeySpec == types.KeySpecSymmetricDefault && (m.Origin == "" || m.Origin == types.OriginTypeAwsKms)
}

// Tag keys read as the key's owner and purpose (compared without case).
var (
	ownerTags   = []string{"owner", "keyaudit:owner"}
	purposeTags = []string{"purpose", "keyaudit:purpose"}
)

// applyTags records the tags and takes owner and purpose from them.
func applyTags(k *inventory.Key, tags map[string]string) {
	if len(tags) == 0 {
		return
	}
	k.Tags = tags
	keys := make([]string, 0, len(tags))
	for tk := range tags {
		keys = append(keys, tk)
	}
	sort.Strings(keys) // "Owner" and "owner" both set: the same pick every run
	for _, tk := range keys {
		v := tags[tk]
		for _, o := range ownerTags {
			if strings.EqualFold(tk, o) && k.Owner == "" {
				k.Owner = v
			}
		}
		for _, p := range purposeTags {
			if strings.EqualFold(tk, p) && k.Purpose == "" {
				k.Purpose = v
			}
		}
	}
}
