package org.hemalens.app.shell

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import org.hemalens.app.DeviceVault
import org.hemalens.app.Setup
import java.io.File
import java.security.KeyStore
import java.security.SecureRandom
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * The phone's [DeviceVault]. The records store's 32-byte key and the device's
 * 32-byte signing seed are made once from [SecureRandom], wrapped with an
 * AES-256-GCM key that never leaves the Android Keystore, and kept in
 * `noBackupFilesDir` (never backed up, never moved to another phone): a copied
 * store is useless without this phone. The setup is in SharedPreferences.
 * Nothing here is ever logged.
 */
class KeystoreVault(context: Context) : DeviceVault {
    private val prefs = context.getSharedPreferences(PREFS, Context.MODE_PRIVATE)
    private val dir = context.noBackupFilesDir

    override fun loadSetup(): Setup? {
        val language = prefs.getString(LANGUAGE, null) ?: return null
        val site = prefs.getString(SITE, null) ?: return null
        val operator = prefs.getString(OPERATOR, null) ?: return null
        return Setup(language, site, operator)
    }

    override fun saveSetup(setup: Setup) {
        check(prefs.edit().putString(LANGUAGE, setup.language).putString(SITE, setup.site).putString(OPERATOR, setup.operator).commit()) {
            "the setup could not be saved"
        }
    }

    override fun storeKey(): ByteArray = secret("store_key")

    override fun deviceSeed(): ByteArray = secret("device_seed")

    /** The secret [name], made on first use. A file that no longer opens (the Keystore key is gone) throws: never replaced silently. */
    @Synchronized
    private fun secret(name: String): ByteArray {
        val file = File(dir, "$name.wrapped")
        if (file.exists()) return unwrap(name, file.readBytes())
        val raw = ByteArray(32).also { SecureRandom().nextBytes(it) }
        val tmp = File(dir, "$name.tmp")
        tmp.writeBytes(wrap(name, raw))
        check(tmp.renameTo(file)) { "the wrapped $name could not be saved" }
        return raw
    }

    /** Version byte, 12-byte IV, ciphertext with its tag; the secret's name is the associated data. */
    private fun wrap(name: String, raw: ByteArray): ByteArray {
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.ENCRYPT_MODE, wrappingKey())
        cipher.updateAAD(name.toByteArray())
        val iv = cipher.iv
        check(iv.size == IV_BYTES) { "unexpected IV size" }
        return byteArrayOf(VERSION) + iv + cipher.doFinal(raw)
    }

    private fun unwrap(name: String, blob: ByteArray): ByteArray {
        check(blob.size > 1 + IV_BYTES && blob[0] == VERSION) { "the wrapped $name is not in a known format" }
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.DECRYPT_MODE, wrappingKey(), GCMParameterSpec(TAG_BITS, blob, 1, IV_BYTES))
        cipher.updateAAD(name.toByteArray())
        return cipher.doFinal(blob, 1 + IV_BYTES, blob.size - 1 - IV_BYTES)
    }

    private fun wrappingKey(): SecretKey {
        val store = KeyStore.getInstance(KEYSTORE).apply { load(null) }
        (store.getEntry(ALIAS, null) as? KeyStore.SecretKeyEntry)?.let { return it.secretKey }
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, KEYSTORE)
        generator.init(
            KeyGenParameterSpec.Builder(ALIAS, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .build(),
        )
        return generator.generateKey()
    }

    private companion object {
        const val PREFS = "hemalens_setup"
        const val LANGUAGE = "language"
        const val SITE = "site"
        const val OPERATOR = "operator"
        const val KEYSTORE = "AndroidKeyStore"
        const val ALIAS = "hemalens_vault"
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val IV_BYTES = 12
        const val TAG_BITS = 128
        const val VERSION: Byte = 1
    }
}
