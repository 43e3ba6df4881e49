// Package ca is Loupe's certificate authority: a root CA created once per
// install and kept in the data directory, and the short-lived leaf
// certificates, one per host, that the proxy presents when it intercepts TLS.
//
// The root is unique to each install (never a CA whose key ships with a
// library), its key file is private to the user, and an existing pair is only
// ever read: a damaged or mismatched pair is an error that names the file, so
// a certificate that users have already trusted is never silently replaced.
package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"loupe/internal/atomicfile"
)

// File names inside the data directory.
const (
	CertFile = "ca.pem"     // the root certificate users trust (0644)
	KeyFile  = "ca-key.pem" // the root's private key (0600)
)

// Defaults for Options.
const (
	// DefaultCacheSize bounds the leaf cache: enough for a browsing session
	// with many third-party hosts, small enough (a few MB) not to matter.
	DefaultCacheSize = 1000
	// DefaultLeafValidity stays within the 398 days Apple platforms accept
	// for TLS server certificates, counting the one hour of backdating.
	DefaultLeafValidity = 397*24*time.Hour - leafBackdate
	// rootValidity is long so that users trust the root once.
	rootValidity = 10 * 365 * 24 * time.Hour
	// leafBackdate tolerates clients whose clocks run a little behind.
	leafBackdate = time.Hour
	// leafRenewBefore renews a cached leaf this long before it expires.
	leafRenewBefore = 24 * time.Hour
)

// Options tunes a CA. The zero value gives the defaults.
type Options struct {
	// CacheSize is the number of leaf certificates kept; the least recently
	// used is dropped past it. Zero means DefaultCacheSize.
	CacheSize int
	// LeafValidity is how long a leaf is valid after its NotBefore (which is
	// backdated by one hour). Zero means DefaultLeafValidity.
	LeafValidity time.Duration
}

// CA is a loaded root certificate and key that issues leaf certificates.
// It is safe for concurrent use.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
	// leafKey is shared by every leaf this CA issues (see leaf.go).
	leafKey *ecdsa.PrivateKey

	validity time.Duration
	now      func() time.Time

	group singleflight.Group
	mu    sync.Mutex
	cache *lru

	// generated counts leaf certificates signed; tests read it.
	generated atomic.Int64
}

// LoadOrCreate loads dir/ca.pem and dir/ca-key.pem, or creates them (and dir,
// mode 0700) when neither exists.
func LoadOrCreate(dir string) (*CA, error) {
	return Open(dir, Options{})
}

// Open is LoadOrCreate with options.
func Open(dir string, opt Options) (*CA, error) {
	if opt.CacheSize < 0 || opt.LeafValidity < 0 {
		return nil, fmt.Errorf("ca options: negative cache size or validity")
	}
	if dir == "" {
		return nil, errors.New("ca: empty data directory")
	}
	certPath := filepath.Join(dir, CertFile)
	keyPath := filepath.Join(dir, KeyFile)

	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	switch {
	case certErr == nil && keyErr == nil:
		// Load below.
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
		var err error
		certPEM, keyPEM, err = create(dir)
		if err != nil {
			return nil, err
		}
	case certErr != nil && !errors.Is(certErr, fs.ErrNotExist):
		return nil, fmt.Errorf("read CA certificate %s: %w", certPath, certErr)
	case keyErr != nil && !errors.Is(keyErr, fs.ErrNotExist):
		return nil, fmt.Errorf("read CA key %s: %w", keyPath, keyErr)
	case certErr != nil:
		return nil, fmt.Errorf("CA certificate %s is missing but its key %s exists: restore it, or remove both files to create a new CA", certPath, keyPath)
	default:
		return nil, fmt.Errorf("CA key %s is missing but the certificate %s exists: restore it, or remove both files to create a new CA", keyPath, certPath)
	}

	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA certificate %s: %w", certPath, err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA key %s: %w", keyPath, err)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("load CA key %s: it does not belong to the certificate %s", keyPath, certPath)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("load CA certificate %s: not a CA certificate (no CA basic constraint or no certSign key usage)", certPath)
	}
	if time.Now().After(cert.NotAfter) {
		return nil, fmt.Errorf("load CA certificate %s: expired on %s; remove %s and %s to create a new CA", certPath, cert.NotAfter.Format(time.DateOnly), CertFile, KeyFile)
	}

	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate leaf key: %w", err)
	}
	size := opt.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	validity := opt.LeafValidity
	if validity == 0 {
		validity = DefaultLeafValidity
	}
	return &CA{
		cert:     cert,
		certPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		key:      key,
		leafKey:  leafKey,
		validity: validity,
		now:      time.Now,
		cache:    newLRU(size),
	}, nil
}

// Certificate returns the root certificate. Callers must not modify it.
func (c *CA) Certificate() *x509.Certificate { return c.cert }

// CertPEM returns the root certificate in PEM form, as users install it.
func (c *CA) CertPEM() []byte { return bytes.Clone(c.certPEM) }

// Fingerprint is the SHA-256 of the root's DER encoding as upper-case hex
// pairs joined by colons: the form browsers and OS certificate viewers show,
// so users can compare what they installed with what Loupe uses.
func (c *CA) Fingerprint() string {
	sum := sha256.Sum256(c.cert.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	parts := make([]string, 0, len(sum))
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

// Pool returns a new pool holding only the root: for tests and clients that
// must trust this CA.
func (c *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// create makes a new root and writes it into dir. The key is written first,
// so an interrupted run leaves at worst a lone key file, which the next run
// reports instead of replacing.
func create(dir string) (certPEM, keyPEM []byte, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create data directory %s: %w", dir, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	suffix := make([]byte, 3)
	if _, err := rand.Read(suffix); err != nil {
		return nil, nil, fmt.Errorf("generate CA name: %w", err)
	}
	// The suffix tells two installs apart in a certificate store.
	name := "Loupe CA " + hex.EncodeToString(suffix)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Loupe"}},
		NotBefore:             now.Add(-leafBackdate),
		NotAfter:              now.Add(rootValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode CA key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := writeNew(filepath.Join(dir, KeyFile), keyPEM, 0o600); err != nil {
		return nil, nil, err
	}
	if err := writeNew(filepath.Join(dir, CertFile), certPEM, 0o644); err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// writeNew writes data to path atomically (temp file, sync, rename), so a
// reader never sees a half-written file. It refuses to replace an existing
// file: another process may have created the CA in the meantime.
func writeNew(path string, data []byte, perm os.FileMode) error {
	err := atomicfile.Write(path, data, atomicfile.Options{Pattern: "." + filepath.Base(path) + ".tmp*", Perm: perm, NoReplace: true})
	if errors.Is(err, atomicfile.ErrExist) {
		return fmt.Errorf("write %s: file appeared while creating the CA; start again to load it", path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil // never zero
}

func parseCert(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("PEM block is %q, want CERTIFICATE", block.Type)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return cert, nil
}

// parseKey accepts the PKCS#8 form Loupe writes and the older EC and RSA
// forms, so a root made with openssl can be dropped in.
func parseKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block is %q, want PRIVATE KEY", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse key: %w", err)
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey:
		return k.(crypto.Signer), nil
	default:
		return nil, fmt.Errorf("unsupported key type %T", key)
	}
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}
