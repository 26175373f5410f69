import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { KafkaLauncherError } from './errors.ts'
import { javaBin, run } from './jvm.ts'

/**
 * A self-signed certificate made with keytool: a PKCS12 keystore (for a Kafka SSL listener) and
 * its certificate as PEM (what a client must trust). Valid for 127.0.0.1 and localhost.
 */
export async function makeSelfSignedCert(dir: string, cn: string): Promise<{ keystore: string; password: string; pemFile: string }> {
  mkdirSync(dir, { recursive: true })
  const keystore = join(dir, `${cn}.p12`)
  const pemFile = join(dir, `${cn}.pem`)
  const password = randomBytes(12).toString('hex')
  const keytool = javaBin('keytool')
  const j = ['-J-XX:TieredStopAtLevel=1', '-J-XX:+UseSerialGC']
  const gen = await run(keytool, [
    ...j, '-genkeypair', '-alias', cn, '-keyalg', 'RSA', '-keysize', '2048', '-validity', '30', '-dname', `CN=${cn}`,
    '-ext', 'SAN=ip:127.0.0.1,dns:localhost', '-keystore', keystore, '-storetype', 'PKCS12', '-storepass', password, '-keypass', password,
  ])
  const exp = gen.code === 0 ? await run(keytool, [...j, '-exportcert', '-rfc', '-alias', cn, '-keystore', keystore, '-storepass', password, '-file', pemFile]) : gen
  if (gen.code !== 0 || exp.code !== 0) {
    throw new KafkaLauncherError(
      'KEYTOOL_FAILED',
      `keytool could not make a self-signed certificate (it comes with the JDK: install openjdk-17-jdk-headless or set JAVA_HOME): ${exp.stderr || exp.stdout}`,
    )
  }
  return { keystore, password, pemFile }
}
